"""Loading a policy: one path for every file, fail fast, errors that name the place.

`load_policy(path)` reads the file, resolves `extends` (built-in packs by name, other files
by path relative to the one that extends them), validates each file against the schema,
merges rules, stores and registers, applies overrides, and returns a frozen `Policy`. Any
problem raises `PolicyErrors` listing every error found with file, line and rule id; an
invalid policy is never partly applied.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scanner.errors import FaceauditError
from scanner.model import Severity
from scanner.policy.schema import CHECKS, SCHEMA_VERSION, Hold, PolicyFile, Register, Rule, Store
from scanner.policy.yamlsource import YamlDoc, YamlError, parse, read_bounded

PACKS_DIR = Path(__file__).resolve().parent / "packs"  # -> the repository's policies/
MAX_EXTENDS_DEPTH = 8


@dataclass(frozen=True)
class PolicyError:
    file: str
    line: int | None
    rule: str | None
    message: str
    column: int | None = None  # for YAML syntax errors: where on the line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.line and self.column:
            where += f":{self.column}"
        rule = f" [{self.rule}]" if self.rule else ""
        return f"{where}:{rule} {self.message}"


class PolicyErrors(FaceauditError):
    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True)
class LoadedRule:
    rule: Rule
    pack: str
    file: str
    line: int | None
    severity: Severity
    enabled: bool
    applies_in: tuple[str, ...]
    override_reason: str | None = None
    store_override: str | None = None  # set by Policy.rule_for: what a store changed

    @property
    def id(self) -> str:
        return self.rule.id


@dataclass(frozen=True)
class Policy:
    name: str
    title: str
    files: tuple[str, ...]
    digest: str
    packs: tuple[str, ...]
    rules: tuple[LoadedRule, ...]
    stores: tuple[Store, ...]
    registers: tuple[Register, ...]
    register_dirs: dict[str, Path] = field(default_factory=dict)  # csv paths resolve here
    # where each register is declared (file, line): errors reading it point there
    register_places: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    holds: tuple[Hold, ...] = ()  # legal holds, in declaration order (scanner.policy.holds)
    grace_days: int = 30  # `remediation: {grace_days}`: the last file that sets it wins
    # `remediation: {container_action}` (manual or whole): the last file that sets it wins;
    # a store's own `container_action` wins for its findings
    container_action: str = "manual"

    @property
    def enabled_rules(self) -> tuple[LoadedRule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def rule_for(self, rule: LoadedRule, store: Store | None) -> LoadedRule:
        """The rule as it applies to the items of `store`: with the store's override of it
        (severity, enabled, max_period), if the store declares one."""
        ov = next((o for o in store.overrides if o.rule == rule.id), None) if store else None
        if ov is None:
            return rule
        model = rule.rule
        if ov.max_period is not None:
            model = model.model_copy(update={"max_period": ov.max_period})
        return replace(
            rule,
            rule=model,
            severity=Severity.parse(ov.severity) if ov.severity else rule.severity,
            enabled=rule.enabled if ov.enabled is None else ov.enabled,
            store_override=ov.changes() + (f" ({ov.reason})" if ov.reason else ""),
        )

    def rule(self, rule_id: str) -> LoadedRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def store(self, store_id: str) -> Store | None:
        return next((s for s in self.stores if s.id == store_id), None)


def builtin_packs() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PACKS_DIR.glob("*.yaml"))}


def unknown_pack(ref: str) -> str:
    """`unknown pack 'gdrp' (did you mean gdpr?)`, or the list of packs when none is close."""
    packs = list(builtin_packs())
    close = difflib.get_close_matches(ref.lower(), packs, n=1, cutoff=0.6)
    if close:
        return f"unknown pack {ref!r} (did you mean {close[0]}?)"
    return f"unknown pack {ref!r} (built-in packs: {', '.join(packs) or 'none installed'})"


def is_pack_name(ref: str) -> bool:
    """A reference without a folder or a .yaml/.yml suffix names a built-in pack."""
    return "/" not in ref and "\\" not in ref and not ref.endswith((".yaml", ".yml"))


def resolve_reference(ref: str, base: Path | None) -> Path:
    """A built-in pack name (`gdpr`) or a path (relative to the file that names it)."""
    packs = builtin_packs()
    if ref in packs:
        return packs[ref]
    if is_pack_name(ref):
        raise ValueError(unknown_pack(ref))
    path = Path(ref)
    return path if path.is_absolute() or base is None else base / path


class _Loader:
    def __init__(self, tool_version: str) -> None:
        self.tool_version = tool_version
        self.errors: list[PolicyError] = []
        self.files: list[Path] = []
        self.parsed: list[tuple[Path, PolicyFile, YamlDoc]] = []

    def error(self, file: Path | str, line: int | None, rule: str | None, msg: str) -> None:
        self.errors.append(PolicyError(str(file), line, rule, msg))

    def load(
        self,
        path: Path,
        chain: tuple[Path, ...] = (),
        origins: tuple[tuple[Path, int | None], ...] = (),
    ) -> None:
        """`origins[k]` is the extends entry (file, line) through which chain[k+1] (or `path`,
        for the last) was reached."""
        path = path.resolve()
        if path in chain:
            cycle = " -> ".join(str(p) for p in (*chain, path))
            # reported at the extends entry where the cycle begins: in the first file of it
            where, line = origins[chain.index(path)]
            self.error(where, line, None, f"extends cycle: {cycle}")
            return
        if path in self.files:  # a diamond: the shared pack is loaded once
            return
        if len(chain) > MAX_EXTENDS_DEPTH:
            self.error(path, None, None, f"extends nested deeper than {MAX_EXTENDS_DEPTH}")
            return
        try:
            doc = parse(read_bounded(path))
        except OSError as exc:
            self.error(path, None, None, f"cannot read: {exc.strerror or exc}")
            return
        except UnicodeDecodeError:
            self.error(path, None, None, "not UTF-8 text")
            return
        except YamlError as exc:
            self.errors.append(PolicyError(str(path), exc.line, None, exc.message, exc.column))
            return
        if not isinstance(doc.data, dict):
            self.error(path, 1, None, "a policy file must be a mapping")
            return
        model = self._validate(path, doc)
        # the extended files are loaded even when this one is invalid: every error at once
        refs: list[str | None] = list(model.extends) if model is not None else _raw_extends(doc)
        for i, ref in enumerate(refs):
            if ref is None:
                continue
            try:
                target = resolve_reference(ref, path.parent)
            except ValueError as exc:
                self.error(path, doc.line_of(("extends", i)), None, str(exc))
                continue
            origin = (path, doc.line_of(("extends", i)))
            self.load(target, (*chain, path), (*origins, origin))
        if model is None:
            return
        self.files.append(path)
        self.parsed.append((path, model, doc))

    def _validate(self, path: Path, doc: YamlDoc) -> PolicyFile | None:
        version = doc.data.get("schema_version")
        if version != SCHEMA_VERSION:
            self.error(
                path,
                doc.line_of(("schema_version",)),
                None,
                f"schema_version must be {SCHEMA_VERSION} (found {version!r})",
            )
            return None
        try:
            model = PolicyFile.model_validate(doc.data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                msg = err["msg"].removeprefix("Value error, ")
                field_name = ".".join(str(p) for p in loc if p not in CHECKS)
                self.error(path, doc.line_of(loc), _rule_at(doc.data, loc), f"{field_name}: {msg}")
            return None
        if model.min_tool_version and _version(model.min_tool_version) > _version(
            self.tool_version
        ):
            self.error(
                path,
                doc.line_of(("min_tool_version",)),
                None,
                f"needs faceaudit >= {model.min_tool_version} (this is {self.tool_version})",
            )
            return None
        return model


def _raw_extends(doc: YamlDoc) -> list[str | None]:
    """The `extends` entries of a file that failed validation (None where not text: the
    schema error says so)."""
    refs = doc.data.get("extends")
    if not isinstance(refs, list):
        return []
    return [r if isinstance(r, str) else None for r in refs]


def _rule_at(data: Any, loc: tuple[Any, ...]) -> str | None:
    if len(loc) >= 2 and loc[0] in ("rules", "overrides") and isinstance(loc[1], int):
        try:
            entry = data[loc[0]][loc[1]]
        except (LookupError, TypeError):
            return None
        if isinstance(entry, dict):
            value = entry.get("id") or entry.get("rule")
            return str(value) if value is not None else None
    return None


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.split("+", maxsplit=1)[0].split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (3 - len(parts)))


def load_policy(path: Path, tool_version: str = "0.1.0") -> Policy:
    """Load and merge a policy and everything it extends; raise PolicyErrors on any error."""
    loader = _Loader(tool_version)
    loader.load(Path(path))
    if loader.errors:
        raise PolicyErrors(loader.errors)
    return _merge(loader)


def _merge(loader: _Loader) -> Policy:
    rules: dict[str, LoadedRule] = {}
    stores: dict[str, tuple[Store, Path]] = {}
    store_docs: dict[str, tuple[YamlDoc, int]] = {}
    registers: dict[str, tuple[Register, Path]] = {}
    register_lines: dict[str, int | None] = {}
    holds: dict[str, tuple[Hold, Path]] = {}
    hold_lines: dict[str, tuple[YamlDoc, int]] = {}
    digest = hashlib.sha256()
    for path, model, doc in loader.parsed:
        digest.update(path.read_bytes())
        for i, rule in enumerate(model.rules):
            line = doc.line_of(("rules", i))
            if rule.id in rules:
                first = rules[rule.id]
                loader.error(
                    path, line, rule.id, f"rule id already defined in {first.file}:{first.line}"
                )
                continue
            rules[rule.id] = LoadedRule(
                rule,
                model.name,
                str(path),
                line,
                Severity.parse(rule.severity),
                rule.enabled,
                tuple(rule.applies_in),
            )
        for i, store in enumerate(model.stores):
            if store.id in stores:
                msg = f"store {store.id!r} already declared in {stores[store.id][1]}"
                loader.error(path, doc.line_of(("stores", i)), None, msg)
                continue
            stores[store.id] = (store, path)
            store_docs[store.id] = (doc, i)
        for i, reg in enumerate(model.registers):
            if reg.id in registers:
                msg = f"register {reg.id!r} already declared in {registers[reg.id][1]}"
                loader.error(path, doc.line_of(("registers", i)), None, msg)
                continue
            registers[reg.id] = (reg, path)
            register_lines[reg.id] = doc.line_of(("registers", i))
        _collect_holds(loader, path, model, doc, holds=holds, docs=hold_lines)
    top = loader.parsed[-1][1]
    for path, model, doc in loader.parsed:
        for i, ov in enumerate(model.overrides):
            line = doc.line_of(("overrides", i))
            current = rules.get(ov.rule)
            if current is None:
                loader.error(path, line, ov.rule, "override of a rule that no loaded pack defines")
                continue
            rules[ov.rule] = LoadedRule(
                current.rule,
                current.pack,
                current.file,
                current.line,
                Severity.parse(ov.severity) if ov.severity else current.severity,
                current.enabled if ov.enabled is None else ov.enabled,
                tuple(ov.applies_in) if ov.applies_in is not None else current.applies_in,
                ov.reason,
            )
    _check_references(loader, stores, registers, store_docs)
    _check_holds(loader, holds, hold_lines, stores)
    _check_store_overrides(loader, stores, rules, store_docs)
    if loader.errors:
        raise PolicyErrors(loader.errors)
    return Policy(
        name=top.name,
        title=top.title or top.name,
        files=tuple(str(p) for p in loader.files),
        digest=digest.hexdigest(),
        packs=tuple(m.name for _, m, _ in loader.parsed),
        rules=tuple(rules.values()),
        stores=tuple(s for s, _ in stores.values()),
        registers=tuple(r for r, _ in registers.values()),
        register_dirs={rid: p.parent for rid, (_, p) in registers.items()},
        register_places={rid: (str(p), register_lines[rid]) for rid, (_, p) in registers.items()},
        holds=tuple(h for h, _ in holds.values()),
        grace_days=next(
            (m.remediation.grace_days for _, m, _ in reversed(loader.parsed) if m.remediation),
            30,
        ),
        container_action=next(
            (
                m.remediation.container_action
                for _, m, _ in reversed(loader.parsed)
                if m.remediation and "container_action" in m.remediation.model_fields_set
            ),
            "manual",
        ),
    )


def _collect_holds(
    loader: _Loader,
    path: Path,
    model: PolicyFile,
    doc: YamlDoc,
    *,
    holds: dict[str, tuple[Hold, Path]],
    docs: dict[str, tuple[YamlDoc, int]],
) -> None:
    """The holds of one file, each case once across every file loaded."""
    for i, hold in enumerate(model.holds):
        if hold.case in holds:
            msg = f"hold of case {hold.case!r} already declared in {holds[hold.case][1]}"
            loader.error(path, doc.line_of(("holds", i)), None, msg)
            continue
        holds[hold.case] = (hold, path)
        docs[hold.case] = (doc, i)


def _check_holds(
    loader: _Loader,
    holds: dict[str, tuple[Hold, Path]],
    docs: dict[str, tuple[YamlDoc, int]],
    stores: dict[str, tuple[Store, Path]],
) -> None:
    """A hold's scope names declared stores only."""
    for case, (hold, path) in holds.items():
        doc, i = docs[case]
        for k, ref in enumerate(hold.scope.stores):
            if ref not in stores:
                where = doc.line_of(("holds", i, "scope", "stores", k))
                loader.error(path, where, None, f"hold {case!r}: store {ref!r} is not declared")


def _check_store_overrides(
    loader: _Loader,
    stores: dict[str, tuple[Store, Path]],
    rules: dict[str, LoadedRule],
    docs: dict[str, tuple[YamlDoc, int]],
) -> None:
    """A store's override names a rule some loaded pack defines; `max_period` only replaces
    the ceiling of a `retention_exceeded` rule that has one."""
    for store, path in stores.values():
        doc, i = docs[store.id]
        for k, ov in enumerate(store.overrides):
            line = doc.line_of(("stores", i, "overrides", k))
            current = rules.get(ov.rule)
            if current is None:
                loader.error(
                    path,
                    line,
                    ov.rule,
                    f"store {store.id!r}: override of a rule that no loaded pack defines",
                )
            elif ov.max_period is not None and getattr(current.rule, "max_period", None) is None:
                loader.error(
                    path,
                    line,
                    ov.rule,
                    f"store {store.id!r}: max_period overrides only a retention_exceeded rule "
                    f"with a max_period ({ov.rule} is a {current.rule.check} rule"
                    + (")" if current.rule.check != "retention_exceeded" else " without one)")
                    + "; the store's own `retention` sets its period",
                )


def _check_references(
    loader: _Loader,
    stores: dict[str, tuple[Store, Path]],
    registers: dict[str, tuple[Register, Path]],
    docs: dict[str, tuple[YamlDoc, int]],
) -> None:
    def line(store: Store, attr: str) -> int | None:
        doc, i = docs[store.id]
        return doc.line_of(("stores", i, attr))

    wanted = {
        "consent_register": "consent",
        "activity_register": "activity",
        "end_of_purpose_register": "end_of_purpose",
    }
    for store, path in stores.values():
        for attr, kind in wanted.items():
            ref = getattr(store, attr)
            if ref is None:
                continue
            reg = registers.get(ref)
            if reg is None:
                loader.error(
                    path,
                    line(store, attr),
                    None,
                    f"store {store.id!r}: {attr} {ref!r} is not declared",
                )
            elif reg[0].kind != kind:
                loader.error(
                    path,
                    line(store, attr),
                    None,
                    f"store {store.id!r}: {attr} {ref!r} is a {reg[0].kind} register",
                )
            elif store.subject is None and reg[0].key == "subject":
                loader.error(
                    path,
                    line(store, attr),
                    None,
                    f"store {store.id!r}: {attr} is keyed by subject, so the store needs `subject`",
                )
        if store.pairs_with is not None and store.pairs_with not in stores:
            loader.error(
                path,
                line(store, "pairs_with"),
                None,
                f"store {store.id!r}: pairs_with {store.pairs_with!r} is not declared",
            )
