"""A failing and a passing situation for any rule, built from its check and parameters.

Used to prove that every rule of every shipped pack can fire and can stay silent: the two
situations differ only in the fact the rule is about (an age, a basis, a consent record, a
provenance, a place, a store field, the other half of a pair).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from scanner.model import (
    ContentType,
    Evidence,
    EvidenceKind,
    FileLocation,
    ItemContext,
    ItemResult,
    Place,
    Provenance,
)
from scanner.policy import schema as s
from scanner.policy.checks.consent import ConsentState
from scanner.policy.checks.executable_code import ExecutableCode
from scanner.policy.checks.no_legal_basis import NoLegalBasis
from scanner.policy.checks.orphaned_pair import OrphanedPair
from scanner.policy.checks.restricted_jurisdiction import RestrictedJurisdiction
from scanner.policy.checks.retention_exceeded import RetentionExceeded
from scanner.policy.checks.scraped_provenance import ScrapedProvenance
from scanner.policy.checks.store_field_missing import StoreFieldMissing
from scanner.policy.checks.undeclared_store import UndeclaredStore
from scanner.policy.durations import Duration
from scanner.policy.evaluate import Facts
from scanner.policy.loader import LoadedRule, Policy
from scanner.policy.registers import Record, RegisterData
from scanner.policy.stores import expand

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
LONG_AGO = NOW - timedelta(days=3 * 366 * 3)  # nine years: past every retention limit
RECENTLY = NOW - timedelta(days=2)


@dataclass(frozen=True)
class Situation:
    items: tuple[ItemResult, ...]
    policy: Policy
    facts: Facts


def item(
    path: str = "org/hr/badges/E100.jpg",
    kind: str = "face_image",
    created: datetime = RECENTLY,
    provenance: tuple[Provenance, ...] = (),
    places: tuple[Place, ...] = (),
) -> ItemResult:
    video = kind == "face_video"  # faces seen in a video: face-image evidence of a video item
    ev = Evidence(EvidenceKind("face_image" if video else kind), "face.yunet", 0.95, faces=1)
    return ItemResult(
        FileLocation(path),
        ContentType.VIDEO if video else ContentType.JPEG,
        1000,
        "ab" * 32,
        evidence=(ev,),
        context=ItemContext(
            created=created,
            created_source="exif:DateTimeOriginal",
            provenance=provenance,
            places=places,
        ),
    )


def region_for(rule: LoadedRule) -> list[str]:
    if not rule.applies_in:
        return []
    first = rule.applies_in[0]
    return [sorted(expand(first))[0]] if first in ("EU", "EEA") else [first]


def store(rule: LoadedRule, **changes: object) -> s.Store:
    base = s.Store(
        id="hr-badges",
        paths=["hr/badges/**"],
        legal_basis=["x-compliant"],
        retention=s.Retention(period="P3650D"),
        region=region_for(rule),
        owner="dpo@example.org",
        dpia="DPIA-1",
        purpose="building access",
        retention_schedule_url="https://example.org/retention",
        subject=s.SubjectKey(path_pattern=r"(?P<subject>E\d+)\.jpg$"),
    )
    return base.model_copy(update=changes)


def policy(
    rule: LoadedRule, stores: tuple[s.Store, ...], registers: tuple[s.Register, ...] = ()
) -> Policy:
    return Policy("t", "t", ("t.yaml",), "0" * 64, ("t",), (rule,), stores, registers)


def register(kind: str, **extra: object) -> s.Register:
    fields: dict[str, object] = {
        "id": f"{kind}-reg",
        "kind": kind,
        "source": "csv:r.csv",
        "key_column": "subject",
    }
    if kind == "consent":
        fields["granted_column"] = "granted"
        fields["withdrawn_column"] = "withdrawn"
        fields["expires_column"] = "expires"
    else:
        fields["time_column"] = "time"
    fields.update(extra)
    return s.Register.model_validate(fields)


def use_for(r: s.Rule, kind: str) -> str | None:
    """A store `use` that makes an item of `kind` what the rule's `data` filter asks for."""
    if not r.data or kind != "face_image" or "photo_use_undeclared" in r.data:
        return None
    return "identification" if "biometric" in r.data else "marketing"


def situations(rule: LoadedRule) -> tuple[Situation, Situation]:
    """(failing, passing) for `rule`."""
    r = rule.rule
    kind = r.kinds[0]
    places = tuple(
        Place(c.split("-")[0], "exif-gps", c if "-" in c else None) for c in region_for(rule)
    )
    it = item(kind=kind, places=places)
    st = store(rule, use=use_for(r, kind))
    if isinstance(r, ConsentState) and r.bases:
        st = st.model_copy(update={"legal_basis": [r.bases[0]]})
    if isinstance(r, UndeclaredStore):
        return (
            Situation((it,), policy(rule, ()), Facts()),
            Situation((it,), policy(rule, (st,)), Facts()),
        )
    if isinstance(r, ExecutableCode):
        return (
            Situation((it,), policy(rule, (st,)), Facts()),
            Situation((item(kind="face_image", places=places),), policy(rule, (st,)), Facts()),
        )
    if isinstance(r, NoLegalBasis):
        return (
            Situation((it,), policy(rule, (st.model_copy(update={"legal_basis": []}),)), Facts()),
            Situation(
                (it,),
                policy(rule, (st.model_copy(update={"legal_basis": [r.accepted_bases[0]]}),)),
                Facts(),
            ),
        )
    if isinstance(r, ScrapedProvenance):
        platform = r.platforms[0] if r.platforms else "instagram"
        scraped = item(
            kind=kind,
            places=places,
            provenance=(Provenance("xattr:user.xdg.origin.url", "cdn.example", platform),),
        )
        return (
            Situation((scraped,), policy(rule, (st,)), Facts()),
            Situation((it,), policy(rule, (st,)), Facts()),
        )
    if isinstance(r, RestrictedJurisdiction):
        banned = sorted(expand(r.countries[0]))[0]
        there = item(
            kind=kind,
            places=(Place(banned.split("-")[0], "exif-gps", banned if "-" in banned else None),),
        )
        elsewhere = item(kind=kind, places=(Place("JP", "exif-gps"),))
        plain = st.model_copy(update={"region": []})
        return (
            Situation((there,), policy(rule, (plain,)), Facts()),
            Situation((elsewhere,), policy(rule, (plain,)), Facts()),
        )
    if isinstance(r, StoreFieldMissing):
        lacking = st.model_copy(update={f: ([] if f == "legal_basis" else None) for f in r.fields})
        return (
            Situation((it,), policy(rule, (lacking,)), Facts()),
            Situation((it,), policy(rule, (st,)), Facts()),
        )
    if isinstance(r, OrphanedPair):
        crops = st.model_copy(update={"pairs_with": "vectors"})
        vectors = st.model_copy(
            update={"id": "vectors", "paths": ["vectors/**"], "pairs_with": "hr-badges"}
        )
        other = replace(it, location=FileLocation("org/vectors/E100.npy"))
        return (
            Situation((it,), policy(rule, (crops, vectors)), Facts()),
            Situation((it, other), policy(rule, (crops, vectors)), Facts()),
        )
    if isinstance(r, ConsentState):
        reg = register("consent")
        consented = st.model_copy(update={"consent_register": reg.id})
        state = r.states[0]
        bad = {
            "missing": None,
            "withdrawn": Record(granted=LONG_AGO, withdrawn=RECENTLY),
            "expired": Record(granted=LONG_AGO, expires=RECENTLY),
            "out_of_scope": Record(granted=LONG_AGO, scope="marketing"),
        }[state]
        if state == "out_of_scope":
            reg = reg.model_copy(update={"scope_column": "scope", "scope": "access"})
        good = Record(granted=LONG_AGO, scope="access")
        records_bad = {} if bad is None else {"E100": bad}
        pol = policy(rule, (consented,), (reg,))
        return (
            Situation((it,), pol, Facts(registers={reg.id: RegisterData(reg, records_bad)})),
            Situation((it,), pol, Facts(registers={reg.id: RegisterData(reg, {"E100": good})})),
        )
    assert isinstance(r, RetentionExceeded)
    limit = Duration.parse(r.max_period) if r.max_period else Duration(days=30)
    starts = r.starts if r.max_period else "creation"
    st = st.model_copy(update={"retention": None if r.max_period else s.Retention(period="P30D")})
    if starts == "creation":
        old = item(kind=kind, places=places, created=LONG_AGO)
        return (
            Situation((old,), policy(rule, (st,)), Facts()),
            Situation((it,), policy(rule, (st,)), Facts()),
        )
    reg_kind = "activity" if starts == "last_interaction" else "end_of_purpose"
    reg = register(reg_kind)
    attr = "activity_register" if reg_kind == "activity" else "end_of_purpose_register"
    st = st.model_copy(update={attr: reg.id})
    old = item(kind=kind, places=places, created=LONG_AGO)
    pol = policy(rule, (st,), (reg,))
    past = limit.after(LONG_AGO)
    assert past < NOW
    ended = RegisterData(reg, {"E100": Record(time=LONG_AGO)})
    # passing: a recent interaction; for the end of purpose, a purpose that has not ended
    fine = RegisterData(reg, {"E100": Record(time=RECENTLY)} if reg_kind == "activity" else {})
    return (
        Situation((old,), pol, Facts(registers={reg.id: ended})),
        Situation((old,), pol, Facts(registers={reg.id: fine})),
    )
