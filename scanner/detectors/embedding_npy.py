"""`embedding.npy`: face templates in `.npy` arrays and in the `.npy` members of `.npz`.

The header is parsed by scanner.embeddings.npy's strict parser (never `np.load`): object
arrays are refused (their body is a pickle: what it would import is judged like any pickle's,
`security.pickle`), lying sizes reported, rows sampled by bounded reads, so a large file sent
"head only" is sampled in place.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelSpec
from scanner.detectors.embedding_common import item_names, run, stem
from scanner.detectors.embedding_pickle import PickleImportsDetector, judge_imports
from scanner.model import ContentType, EvidenceKind


class EmbeddingNpyDetector:
    id: ClassVar[str] = "embedding.npy"
    cost: ClassVar[int] = 20
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.NPY})
    description: ClassVar[str] = (
        "Face templates in .npy arrays (header read first, allow_pickle=False; .npz members too)"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        from scanner.embeddings import npy  # imported by the first item it reads

        names = item_names(item)
        out = run(self.id, item, ctx, lambda: npy.analyse(item, names, stem(names[-1])))
        body = npy.object_body(item)
        if body is None:
            return out
        # An object array's body is a pickle: never loaded, but what it would import when
        # loaded with allow_pickle=True is a security finding, as for any pickle.
        code = judge_imports(PickleImportsDetector.id, body, "body of this object array")
        return replace(
            out, evidence=out.evidence + code.evidence, problems=out.problems + code.problems
        )
