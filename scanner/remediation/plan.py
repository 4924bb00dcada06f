"""The plan: what remediation will do, item by item, written to a file people review before
anything is touched (`faceaudit remediate plan`, then `apply`).

A plan is made from the open findings of a JSON report (`scan --format json`). Findings
are grouped by the file that holds them (a container for its members): one entry per file,
citing every rule and law that demands it, so a file is never moved twice. The action is

- `delete`: quarantine into the vault now, destroyed by `purge` once the grace period has
  passed (the DPO's routine);
- `quarantine`: into the vault and kept there until restored (the incident responder's);
- `manual`: findings inside a container (an archive's members, a PDF's pictures, an office
  document's media, a mail message's attachments) whose removal would take the container's
  other contents with it: a person removes the members named; `apply` never touches the
  container (`container_scope`). A video's frames are judged as the video: its findings are
  about the file;
- `none`, with the reason: every finding is waived or in the baseline, a legal hold keeps
  the item (`holds_for`), the file is gone or changed since the scan, or it is not a local
  file and not an object or rows this version remediates (scanner/remediation/targets.py).

A container is acted on as a whole only when the policy allows it for every finding's store
(`container_action: whole`, `ContainerRule`) or when every member the scan examined is a
finding (the report's `containers`); the item's `container` says which.

Each acting item carries its preconditions, taken when the plan is made and checked against
the report: size, SHA-256, mtime (ns), inode and device. `apply` acts on an item only if
all still hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.errors import ConfigError
from scanner.remediation.fsops import Refused, hash_fd, open_regular, parent_dir, split

if TYPE_CHECKING:
    from scanner.policy.declarations import Hold as PolicyHold

# plans findings about objects and rows (scanner/remediation/targets.py: plan_remote)
RemotePlanner = Callable[..., "PlanItem"]

PLAN_SCHEMA_VERSION = 2  # 2: the `manual` action and each item's `container`
PLAN_KIND = "faceaudit-remediation-plan"
DEFAULT_GRACE_DAYS = 30
ACTIONS = ("delete", "quarantine", "manual", "none")
MOVES = ("delete", "quarantine")  # the actions `apply` carries out


def acts(item: PlanItem) -> bool:
    """Whether `apply` moves, erases or clears anything for this item (`manual` and `none`
    items are never touched)."""
    return item.action in MOVES


class PlanError(ConfigError):
    """A plan or a report that cannot be read (a usage error)."""


@dataclass(frozen=True)
class Hold:
    """A legal hold that keeps an item whatever its findings say."""

    case: str
    reason: str
    owner: str


def holds_for(
    location: str,
    holds: Sequence[PolicyHold] = (),
    store: str | None = None,
    now: datetime | None = None,
) -> Hold | None:
    """The legal hold of the policy (`holds:`, scanner/policy/holds.py) that covers the file
    at `location` (an absolute path, of the store `store`) at `now`, if any.

    The one place the planner and `purge` ask: a held item's action is `none`, with the
    hold's case and reason, and a held item in the vault is never purged."""
    from scanner.model import FileLocation
    from scanner.policy.holds import hold_for

    if "://" in location and not location.startswith("file://"):  # an object or a column
        return _remote_hold(location, [{"store": store}] if store else [], holds, now)
    when = now if now is not None else datetime.now(timezone.utc)
    found = hold_for(holds, FileLocation(location), store, when)
    return None if found is None else Hold(found.case, found.reason, found.owner)


def _remote_hold(
    uri: str,
    group: Sequence[Mapping[str, Any]],
    holds: Sequence[PolicyHold],
    now: datetime | None,
) -> Hold | None:
    """The policy's hold over an object or a database column (its `paths` or `stores`
    globs, or its `databases` globs), if any."""
    if not holds:
        return None
    from scanner.model import DatabaseLocation, Location, ObjectLocation
    from scanner.policy.holds import hold_for
    from scanner.sources.database import server_ref

    location: Location
    display, _, quoted = uri.partition("#")
    if quoted:
        fragment = urllib.parse.unquote(quoted, errors="surrogateescape")
        parts = [*fragment.split("."), None, None, None]
        if display.startswith("postgresql://"):
            location = DatabaseLocation(server_ref(display), parts[0], parts[1], parts[2])
        else:
            location = DatabaseLocation(server_ref(display), None, parts[0], parts[1])
    else:
        scheme, _, rest = uri.partition("://")
        bucket, _, key = rest.partition("/")
        location = ObjectLocation(f"{scheme}://{bucket}", key)
    store = next((str(f["store"]) for f in group if f.get("store")), None)
    found = hold_for(holds, location, store, now or datetime.now(timezone.utc))
    return None if found is None else Hold(found.case, found.reason, found.owner)


def _reported_hold(group: Sequence[Mapping[str, Any]]) -> Hold | None:
    """The hold a report's held finding names (`held_by`: the scan's policy held it)."""
    for f in group:
        held = f.get("held_by")
        if f.get("disposition") == "held" and isinstance(held, Mapping):
            return Hold(str(held.get("case")), str(held.get("reason")), str(held.get("owner")))
    return None


@dataclass(frozen=True)
class ContainerRule:
    """What the policy lets a plan do with a container some of whose members are findings:
    `manual` (the default: a person removes the members) or `whole` (the container is acted
    on), for the whole policy (`remediation: {container_action}`) and per store (a store's
    `container_action`, which wins for its findings)."""

    default: str = "manual"
    stores: tuple[tuple[str, str], ...] = ()  # (store id, manual or whole)

    def for_store(self, store: str | None) -> tuple[str, str]:
        """The action for a finding of `store` (None: outside every store), and where the
        policy says so."""
        for sid, value in self.stores:
            if sid == store:
                return value, f"store {sid} (container_action: {value})"
        return self.default, f"the policy (remediation: {{container_action: {self.default}}})"


@dataclass(frozen=True)
class Container:
    """How an item whose findings are inside a container is handled: `members` (the action
    is `manual`: only the members named are a person's to remove, the container stays) or
    `whole` (the container is acted on); `basis` is why: `default` (the policy does not
    allow acting on the whole), `policy` (`container_action: whole`) or `all-members` (every
    member the scan examined is a finding); `why` says it in words."""

    scope: str  # members or whole
    basis: str  # default, policy or all-members
    why: str
    examined: int | None = None  # members the scan examined, when the report says


@dataclass(frozen=True)
class Preconditions:
    size: int
    sha256: str
    mtime_ns: int
    ino: int
    dev: int


@dataclass(frozen=True)
class ObjectPre:
    """An object's preconditions (scanner/remediation/objects.py): its latest version as
    listed when the plan was made."""

    store: str  # "s3://bucket"
    key: str
    etag: str
    version_id: str | None  # None: an unversioned bucket
    size: int
    last_modified: str
    versions: int  # versions and delete markers of the key when planned


@dataclass(frozen=True)
class RowPre:
    """One row: its primary key (column, value as text) and the SHA-256 of its face
    column's value (scanner/remediation/rows.py)."""

    key: tuple[tuple[str, str], ...]
    sha256: str


@dataclass(frozen=True)
class RowsPre:
    """A table's rows to clear or delete (scanner/remediation/rows.py)."""

    database: str  # as displayed, never with a user or password: "postgresql://h:5432/db"
    scheme: str  # postgresql, mysql or sqlite
    schema: str | None
    table: str
    column: str
    key_columns: tuple[str, ...]
    mode: str  # clear (SET NULL) or delete (the row)
    rows: tuple[RowPre, ...]
    unlisted: int = 0  # rows the report counted but did not list (not planned)


@dataclass(frozen=True)
class PlanItem:
    id: str  # "i0001": the item's number in this plan
    action: str  # delete, quarantine or none
    path: str  # absolute (the file or the archive that holds the findings)
    reason: str | None  # why `none`
    rule_ids: tuple[str, ...]
    citations: tuple[str, ...]
    packs: tuple[str, ...]
    fingerprints: tuple[str, ...]
    severity: str
    members: tuple[str, ...] = ()  # container members the findings are about
    hold: Hold | None = None
    container: Container | None = None  # findings inside a container: members or whole
    preconditions: Preconditions | None = None
    object: ObjectPre | None = None  # an object in a store (then `path` is its URI)
    rows: RowsPre | None = None  # rows of a database table (then `path` is the column's)


@dataclass(frozen=True)
class Plan:
    plan_id: str
    created_at: str
    grace_days: int
    source: dict[str, Any]  # the report (path, sha256, policy) or the subject report
    items: tuple[PlanItem, ...] = field(default=())

    @property
    def acting(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if acts(i))

    @property
    def manual(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.action == "manual")


# -- making a plan ------------------------------------------------------------------------


def plan_from_report(
    report: Path,
    *,
    base: Path,
    action: str = "delete",
    grace_days: int = DEFAULT_GRACE_DAYS,
    now: datetime | None = None,
    holds: Sequence[PolicyHold] = (),
    dsns: Sequence[str] = (),
    rows_mode: str = "clear",
    remote: RemotePlanner | None = None,
    containers: ContainerRule | None = None,
) -> Plan:
    """The plan for the open findings of the JSON report `report`; relative paths in it are
    resolved against `base` (the directory the scan ran in). A file the report's policy held
    (`held_by`), or that one of `holds` covers now, gets `none` with the hold. Objects in
    stores and database rows are planned by `remote` (scanner/remediation/targets.py, whose
    `plan_from_report` passes it; `dsns`: the scan's database URIs, to read the rows' keys
    and values; `rows_mode`: clear or delete); without it they get `none`. Findings inside
    a container get `manual` unless `containers` (the policy's `container_action`) allows
    acting on the whole container, or every member the scan examined is a finding."""
    if action not in ("delete", "quarantine"):
        raise PlanError(f"unknown action {action!r} (delete or quarantine)")
    raw, doc = _read_json(report)
    findings = doc.get("findings")
    if not isinstance(findings, list) or "schema_version" not in doc:
        raise PlanError(f"{report} is not a faceaudit JSON report with a policy's findings")
    sizes = {
        i.get("path"): (i.get("size"), i.get("sha256"))
        for i in doc.get("items", [])
        if not i.get("location", {}).get("members")
    }
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for f in findings:
        loc = f.get("location", {})
        groups.setdefault(_artifact_key(loc), []).append(f)
    # one entry per file: spellings that reach the same file (`./a.zip`, `x/../a.zip`, a
    # folder through a link) are one group, so no file is ever acted on twice
    merged: dict[str, tuple[str, list[Mapping[str, Any]]]] = {}
    for key, group in sorted(groups.items()):
        target = key if key.startswith("\0") else resolve(base, key)
        _, into = merged.setdefault(target, (key, []))
        into.extend(group)
    examined = _examined(doc, base)
    items = []
    for n, (target, (key, group)) in enumerate(merged.items(), 1):
        items.append(
            _item(
                f"i{n:04d}",
                key,
                group,
                base=base,
                action=action,
                sizes=sizes,
                holds=holds,
                now=now,
                dsns=dsns,
                rows_mode=rows_mode,
                remote=remote,
                containers=containers,
                examined=examined.get(target),
            )
        )
    policy = doc.get("policy") or {}
    return Plan(
        plan_id=_new_id(now),
        created_at=_iso(now),
        grace_days=grace_days,
        source={
            "report": str(report),
            "report_sha256": hashlib.sha256(raw).hexdigest(),
            "policy": policy.get("name"),
            "policy_digest": policy.get("digest"),
        },
        items=tuple(items),
    )


def _artifact_key(loc: Mapping[str, Any]) -> str:
    uri = str(loc.get("uri", ""))
    path = (
        bytes.fromhex(loc["path_hex"]).decode("utf-8", "surrogateescape")
        if ("path_hex" in loc)
        else str(loc.get("path", ""))
    )
    # a file's URI is `file://…` or a relative reference (reserved characters quoted)
    if "#" in uri or ("://" in uri and not uri.startswith("file://")):
        if loc.get("members") and "#" not in uri:  # an object's member: the object
            return "\0" + path
        return "\0" + str(loc.get("uri") or path)  # not a local file
    return path


def resolve(base: Path, key: str) -> str:
    """A report's path as the plan names it: absolute, with any links among its directories
    resolved now, when the plan is reviewed (from here on none is followed: a link swapped
    in later fails the item)."""
    joined = os.path.normpath(os.path.join(base, key))
    return os.path.join(os.path.realpath(os.path.dirname(joined)), os.path.basename(joined))


def _examined(doc: Mapping[str, Any], base: Path) -> dict[str, int]:
    """How many members the scan examined in each container, when the report says
    (`containers`: [{path, members_examined}]); keyed like the plan's groups."""
    found: dict[str, int] = {}
    for c in doc.get("containers") or ():
        if not isinstance(c, Mapping) or not isinstance(c.get("members_examined"), int):
            continue
        key = _artifact_key({**c, "members": ["-"], "uri": str(c.get("uri") or c.get("path"))})
        found[key if key.startswith("\0") else resolve(base, key)] = int(c["members_examined"])
    return found


def _member(f: Mapping[str, Any]) -> str:
    """The member a finding is about, nested ones joined as they are displayed (`b.tar!/c.jpg`)."""
    return "!/".join(str(m) for m in f.get("location", {}).get("members", []))


def container_scope(
    group: Sequence[Mapping[str, Any]],
    rule: ContainerRule | None,
    examined: int | None,
) -> Container | None:
    """How findings inside a container are acted on; None when one of them is about the file
    itself (the file is then acted on, as any file).

    A demanding reviewer's rule: nothing the findings did not judge is removed silently. So
    the container is acted on as a whole only if the policy allows it for the store of every
    open finding (`container_action: whole`), or if every member the scan examined in it is
    an open finding; otherwise the members are a person's to remove (`manual`)."""
    if not group or any(not f.get("location", {}).get("members") for f in group):
        return None
    opened = [f for f in group if f.get("disposition") == "open"]
    members = {_member(f) for f in opened}
    if rule is not None and opened:
        said = [rule.for_store(str(f["store"]) if f.get("store") else None) for f in opened]
        if all(value == "whole" for value, _ in said):
            where = " and ".join(sorted({w for _, w in said}))
            return Container(
                "whole", "policy", f"the whole container is acted on: {where} allows it", examined
            )
    if examined is not None and 0 < examined <= len(members):
        return Container(
            "whole",
            "all-members",
            f"every member the scan examined in the container ({examined}) is a finding",
            examined,
        )
    s = "s" if len(members) != 1 else ""
    where = (
        f"{len(members)} of the {examined} members the scan examined in this container"
        if examined
        else f"{len(members)} member{s} of this container"
    )
    return Container(
        "members",
        "default",
        f"face data in {where}: acting on the "
        f"container would also remove everything else in it, so a person removes the "
        f"member{s} named and keeps the rest (the policy may allow acting on the whole "
        "container: container_action: whole)",
        examined,
    )


def _item(
    item_id: str,
    key: str,
    group: list[Mapping[str, Any]],
    *,
    base: Path,
    action: str,
    sizes: Mapping[Any, tuple[Any, Any]],
    holds: Sequence[PolicyHold] = (),
    now: datetime | None = None,
    dsns: Sequence[str] = (),
    rows_mode: str = "clear",
    remote: RemotePlanner | None = None,
    containers: ContainerRule | None = None,
    examined: int | None = None,
) -> PlanItem:
    order = ("info", "low", "medium", "high", "critical")
    severity = max((str(f.get("severity", "info")) for f in group), key=order.index)
    opened = [f for f in group if f.get("disposition") == "open"]
    # the members to act on: the open findings' (a waived member is not a person's to remove)
    members = tuple(sorted({_member(f) for f in (opened or group)} - {""}))
    scope = container_scope(group, containers, examined)
    common = {
        "id": item_id,
        "rule_ids": _union(f.get("rule_id") for f in group),
        "citations": _union(c for f in group for c in f.get("citations", [])),
        "packs": _union(f.get("pack") for f in group),
        "fingerprints": _union(f.get("fingerprint") for f in group),
        "severity": severity,
        "members": members,
    }
    if key.startswith("\0") and remote is None:
        return PlanItem(
            action="none",
            path=key[1:],
            reason="not a local file (objects and rows are planned through "
            "scanner.remediation.targets.plan_from_report)",
            **common,  # type: ignore[arg-type]
        )
    if key.startswith("\0"):
        assert remote is not None
        hold = _reported_hold(group) or _remote_hold(key[1:], group, holds, now)
        if hold is None and opened and scope is not None and scope.scope == "members":
            return PlanItem(
                action="manual",
                path=key[1:],
                reason=scope.why,
                container=scope,
                **common,  # type: ignore[arg-type]
            )
        planned = remote(
            key[1:], group, common, action=action, dsns=dsns, rows_mode=rows_mode, hold=hold
        )
        return replace(planned, container=scope) if acts(planned) else planned
    path = resolve(base, key)
    store = next((str(f["store"]) for f in group if f.get("store")), None)
    hold = _reported_hold(group) or holds_for(path, holds, store, now)
    if hold is not None:
        return PlanItem(
            action="none",
            path=path,
            reason=f"legal hold {hold.case}: {hold.reason}",
            hold=hold,
            **common,  # type: ignore[arg-type]
        )
    if not opened:
        dispositions = sorted({str(f.get("disposition")) for f in group})
        reason = "every finding is " + " or ".join(
            {"waived": "waived", "baseline": "in the baseline"}.get(w, w) for w in dispositions
        )
        return PlanItem(action="none", path=path, reason=reason, **common)  # type: ignore[arg-type]
    try:
        pre = observe(path)
    except (OSError, Refused) as exc:
        why = "gone since the scan" if isinstance(exc, FileNotFoundError) else str(exc)
        return PlanItem(action="none", path=path, reason=why, **common)  # type: ignore[arg-type]
    if scope is not None and scope.scope == "members":
        # the container as the reviewer saw it, so the person who removes the members can
        # tell it is still the same file; `apply` never touches it
        return PlanItem(
            action="manual",
            path=path,
            reason=scope.why,
            preconditions=pre,
            container=scope,
            **common,  # type: ignore[arg-type]
        )
    size, digest = sizes.get(key, (None, None))
    if not members and (
        (size is not None and size != pre.size) or (digest and digest != pre.sha256)
    ):
        return PlanItem(
            action="none",
            path=path,
            reason="changed since the scan (size or SHA-256 differ from the report)",
            **common,  # type: ignore[arg-type]
        )
    return PlanItem(
        action=action,
        path=path,
        reason=None,
        preconditions=pre,
        container=scope,
        **common,  # type: ignore[arg-type]
    )


def observe(path: str) -> Preconditions:
    """What the file is now, reached without following links."""
    _, name = split(path)
    with parent_dir(path) as dir_fd:
        fd = open_regular(dir_fd, name)
        try:
            st = os.fstat(fd)
            digest = hash_fd(fd)
        finally:
            os.close(fd)
    return Preconditions(st.st_size, digest, st.st_mtime_ns, st.st_ino, st.st_dev)


def _union(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in values if v}))


# -- the file ------------------------------------------------------------------------------


def to_document(plan: Plan) -> dict[str, Any]:
    items = []
    for item in plan.items:
        doc = asdict(item)
        doc["rule_ids"], doc["citations"] = list(item.rule_ids), list(item.citations)
        doc["packs"], doc["fingerprints"] = list(item.packs), list(item.fingerprints)
        doc["members"] = list(item.members)
        items.append(doc)
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "kind": PLAN_KIND,
        "plan_id": plan.plan_id,
        "created_at": plan.created_at,
        "grace_days": plan.grace_days,
        "source": plan.source,
        "summary": summary(plan),
        "items": items,
    }


def summary(plan: Plan) -> dict[str, int]:
    """Items per action."""
    return {a: sum(i.action == a for i in plan.items) for a in ACTIONS}


def write_plan(plan: Plan, path: Path) -> None:
    text = json.dumps(to_document(plan), indent=2, ensure_ascii=False) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


def read_plan(path: Path) -> Plan:
    _, doc = _read_json(path)
    if doc.get("kind") != PLAN_KIND:
        raise PlanError(f"{path} is not a faceaudit remediation plan")
    if doc.get("schema_version") != PLAN_SCHEMA_VERSION:
        raise PlanError(
            f"{path}: plan schema {doc.get('schema_version')} is not {PLAN_SCHEMA_VERSION}"
        )
    try:
        items = tuple(_item_from(d) for d in doc["items"])
        return Plan(
            plan_id=str(doc["plan_id"]),
            created_at=str(doc["created_at"]),
            grace_days=int(doc["grace_days"]),
            source=dict(doc["source"]),
            items=items,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: a malformed plan ({exc!r})") from None


def _item_from(d: Mapping[str, Any]) -> PlanItem:
    if d["action"] not in ACTIONS:
        raise ValueError(f"unknown action {d['action']!r}")
    pre = d.get("preconditions")
    hold = d.get("hold")
    container = d.get("container")
    # what the reviewer approved: members a person removes are never acted on by `apply`
    members_only = isinstance(container, Mapping) and container.get("scope") == "members"
    if members_only != (d["action"] == "manual") and d["action"] != "none":
        raise ValueError(f"item {d.get('id')}: action {d['action']!r} with container {container}")
    return PlanItem(
        id=str(d["id"]),
        action=str(d["action"]),
        path=str(d["path"]),
        reason=d.get("reason"),
        rule_ids=tuple(d.get("rule_ids", ())),
        citations=tuple(d.get("citations", ())),
        packs=tuple(d.get("packs", ())),
        fingerprints=tuple(d.get("fingerprints", ())),
        severity=str(d.get("severity", "info")),
        members=tuple(d.get("members", ())),
        hold=Hold(**hold) if hold else None,
        preconditions=Preconditions(**pre) if pre else None,
        container=Container(**container) if container else None,
        object=ObjectPre(**d["object"]) if d.get("object") else None,
        rows=_rows_from(d["rows"]) if d.get("rows") else None,
    )


def _rows_from(d: Mapping[str, Any]) -> RowsPre:
    return RowsPre(
        **{
            **d,
            "key_columns": tuple(d["key_columns"]),
            "rows": tuple(
                RowPre(tuple((str(c), str(v)) for c, v in r["key"]), str(r["sha256"]))
                for r in d["rows"]
            ),
        }
    )


def _read_json(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = path.read_bytes()
        doc = json.loads(raw.decode("utf-8", "surrogateescape"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise PlanError(f"{path} is not a JSON object")
    return raw, doc


def _iso(now: datetime | None) -> str:
    moment = now or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _new_id(now: datetime | None) -> str:
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"plan-{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
