"""`embedding.pickle` and `security.pickle`: face templates in pickles and joblib files, and
pickles that import code — both found without ever unpickling.

Loading a pickle runs the callables it names, so both detectors read it through
`pickle_scan`, which replays opcodes and rebuilds the data with its own code. Templates are
judged by `vectors.classify` (with the application when the file layout or the pickled keys
name one); the evidence carries counts, dims, dtype and reasons — never a vector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from scanner.detectors.base import (
    KEPT_DIMS,
    DetectContext,
    DetectorOutput,
    LoadedItem,
    ModelSpec,
    embedding_evidence,
)
from scanner.embeddings.vectors import VectorSet, Verdict, classify
from scanner.model import ContentType, Evidence, EvidenceKind, ProblemReason, ScalarValue

if TYPE_CHECKING:
    from scanner.embeddings.pickles.scan import PickleAnalysis
    from scanner.embeddings.pickles.search import VectorSearch

# The pickle analyser and the apps' reference are imported by the first pickle a detector
# reads (scanner.embeddings.pickles): a worker that sees only photos never loads them.

EMPTY_STORE_CONFIDENCE = 0.7
MAX_LISTED_IMPORTS = 50
_Problems = tuple[tuple[ProblemReason, str], ...]


class EmbeddingPickleDetector:
    id: ClassVar[str] = "embedding.pickle"
    cost: ClassVar[int] = 30
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.PICKLE})
    description: ClassVar[str] = (
        "Face templates in pickles and joblib files, analysed without unpickling"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        from scanner.embeddings.pickles.scan import analyse
        from scanner.embeddings.pickles.search import VectorSearch
        from scanner.reference import apps

        analysis = analyse(item.data)
        match = apps.identify_path(item.location.display) or apps.gallery_keys(
            _top_keys(analysis.roots)
        )
        app = match.app if match else None
        extra: tuple[tuple[str, ScalarValue], ...] = ()
        if match is not None and match.linked_store:
            extra = (("linked_store", match.linked_store),)
        search = VectorSearch([*analysis.roots, *analysis.extras], context=_file_names(item))
        threshold = ctx.settings.embedding_threshold
        evidence, seen, best_below, kept = self._judge(
            search, app, extra, threshold, ctx.keep_vectors
        )
        if not seen and app == "DeepFace" and _only_lists(analysis.roots):
            empty = _empty_store(self.id, app, extra)
            if empty.confidence >= threshold:
                evidence.append(empty)
        notes: list[tuple[str, ScalarValue]] = [
            ("pickle_opcodes", analysis.opcodes),
            ("vector_sets", seen),
        ]
        if seen > len(evidence):
            notes.append(("best_confidence_below_threshold", best_below))
        notes.extend(_walk_notes(analysis))
        problems = _problems(analysis) + _search_problems(search)
        return DetectorOutput(tuple(evidence), tuple(notes), problems, tuple(kept))

    def _judge(
        self,
        search: VectorSearch,
        app: str | None,
        extra: tuple[tuple[str, ScalarValue], ...],
        threshold: float,
        keep: bool = False,
    ) -> tuple[list[Evidence], int, float, list[VectorSet]]:
        """Classify every set as it is found (its sample is dropped right after): evidence
        for those at or above the threshold, the best confidence of the others, and the 128-d
        sets behind the evidence (kept only for a face search in this worker)."""
        evidence: list[Evidence] = []
        kept: list[VectorSet] = []
        seen, best_below = 0, 0.0
        for vs in search.sets():
            seen += 1
            verdict = classify(vs, app=app)
            if verdict.confidence >= threshold:
                details = (("labels", vs.labels), ("sampled", int(vs.sample.shape[0])), *extra)
                evidence.append(embedding_evidence(self.id, vs, verdict, app=app, extra=details))
                if keep and vs.dims == KEPT_DIMS:
                    kept.append(vs)
            else:
                best_below = max(best_below, verdict.confidence)
        return evidence, seen, best_below, kept


class PickleImportsDetector:
    id: ClassVar[str] = "security.pickle"
    cost: ClassVar[int] = 5
    kind: ClassVar[EvidenceKind] = EvidenceKind.EXECUTABLE_CODE
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.PICKLE})
    description: ClassVar[str] = (
        "Pickles that import code (os.system, eval, …): a security finding of its own"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        return judge_imports(self.id, item.data)


def judge_imports(detector: str, data: bytes, container: str = "") -> DetectorOutput:
    """EXECUTABLE_CODE evidence when a pickle (or the pickled body of an object array,
    `container`) imports callables a loader would run."""
    from scanner.embeddings.pickles.imports import judge_import
    from scanner.embeddings.pickles.scan import DEFAULT_MAX_OPS, analyse

    analysis = analyse(data)
    problems: _Problems = ()
    if analysis.capped:
        problems = (
            (
                ProblemReason.OVERSIZE,
                f"pickle analysis stopped after {DEFAULT_MAX_OPS:,} opcodes (offset "
                f"{analysis.error_offset}): imports beyond it were not checked",
            ),
        )
    judged = {j.qualname: j for i in analysis.imports if (j := judge_import(i.module, i.name))}
    if not judged:
        return DetectorOutput(problems=problems)
    ordered = [judged[q] for q in sorted(judged)]
    names = [_clip(j.qualname) for j in ordered]
    known = [_clip(j.qualname) for j in ordered if j.known_dangerous]
    reasons = [f"imports {_clip(j.qualname)}: {j.reason}" for j in ordered]
    reasons = reasons[:MAX_LISTED_IMPORTS]
    if container:
        reasons.insert(0, f"the {container} is a pickle, which numpy loads with allow_pickle")
    if analysis.capped:
        reasons.append(
            f"analysis stopped at the opcode cap (offset {analysis.error_offset}): imports "
            "after it were not checked"
        )
    elif not analysis.complete:
        reasons.append(
            f"the pickle is broken at offset {analysis.error_offset}: a loader would still "
            "import everything listed here before failing"
        )
    details: tuple[tuple[str, ScalarValue], ...] = (
        ("imports", _listing(names)),
        ("count", len(names)),
        ("code_execution", _listing(known)),
        ("complete", analysis.complete),
    )
    if container:
        details += (("container", container),)
    evidence = Evidence(
        kind=EvidenceKind.EXECUTABLE_CODE,
        detector=detector,
        confidence=1.0 if known else 0.8,
        details=details,
        reasons=tuple(reasons),
    )
    return DetectorOutput((evidence,), problems=problems)


def _file_names(item: LoadedItem) -> tuple[str, ...]:
    """The file's name and its archive members' names (`faces.joblib`, then `faces`)."""
    parts = (item.location.path, *item.location.members)
    return tuple(p.rsplit("/", 1)[-1] for p in parts if p)


def _top_keys(roots: list[Any]) -> list[str]:
    return [k for r in roots if isinstance(r, dict) for k in r if isinstance(k, str)]


def _only_lists(roots: list[Any]) -> bool:
    """A DeepFace cache is a list (of records); an empty one is `[]`."""
    return bool(roots) and all(isinstance(r, list) for r in roots)


def _empty_store(detector: str, app: str, extra: tuple[tuple[str, ScalarValue], ...]) -> Evidence:
    """The application's face-template store with no template in it yet: still a store."""
    vs = VectorSet(where="(root)", sample=np.empty((0, 0)), count=0, dtype="none")
    verdict = Verdict(
        EMPTY_STORE_CONFIDENCE,
        (
            f"the file name and structure of {app}'s face-template cache, holding 0 templates "
            "now: the application writes face templates here",
        ),
        None,
    )
    details = (("labels", 0), ("sampled", 0), *extra)
    return embedding_evidence(detector, vs, verdict, app=app, extra=details)


def _walk_notes(analysis: PickleAnalysis) -> list[tuple[str, ScalarValue]]:
    notes: list[tuple[str, ScalarValue]] = []
    if analysis.pickles > 1:
        notes.append(("pickles_concatenated", analysis.pickles))
    if analysis.trailing_bytes:
        notes.append(("trailing_bytes_not_pickle", analysis.trailing_bytes))
    if analysis.external:
        notes.append(("external_arrays_not_in_file", analysis.external))
    if analysis.unsupported_arrays:
        notes.append(("arrays_not_rebuilt", analysis.unsupported_arrays))
    return notes


def _problems(analysis: PickleAnalysis) -> _Problems:
    from scanner.embeddings.pickles.scan import DEFAULT_MAX_OPS

    out: list[tuple[ProblemReason, str]] = []
    if analysis.error is not None:
        out.append(
            (
                ProblemReason.DECODE_ERROR,
                f"{analysis.error}; the data before offset {analysis.error_offset} was searched",
            )
        )
    if analysis.capped:
        out.append(
            (
                ProblemReason.OVERSIZE,
                f"pickle analysis stopped after {DEFAULT_MAX_OPS:,} opcodes (offset "
                f"{analysis.error_offset}): the rest was not searched for face templates",
            )
        )
    for note, n in sorted(analysis.array_notes.items()):
        out.append((ProblemReason.DECODE_ERROR, f"{n} numpy array(s): {note}"))
    return tuple(out)


def _search_problems(search: VectorSearch) -> _Problems:
    from scanner.embeddings.pickles.search import WORK_BUDGET

    if not search.exhausted:
        return ()
    return (
        (
            ProblemReason.OVERSIZE,
            f"the search for vectors stopped after {WORK_BUDGET:,} elements: the rest of the "
            "pickle was not searched",
        ),
    )


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _listing(names: list[str]) -> str:
    if len(names) <= MAX_LISTED_IMPORTS:
        return ",".join(names)
    return ",".join(names[:MAX_LISTED_IMPORTS]) + f",… (+{len(names) - MAX_LISTED_IMPORTS} more)"
