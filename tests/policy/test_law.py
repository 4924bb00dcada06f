"""The right law for what a store holds and what it is used for (GDPR Art 4(14), Recital 51),
and rules changed for one store's items only (Store.overrides): real files, a real scan.

A photograph is biometric data only when processed to identify: a marketing photo store
lawful on legitimate interests (Art 6(1)(f)) passes, the same basis on a store of face
templates fails under Art 9(1). Per-pack tables say which rules each law applies to each
situation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from db_helpers import arcface_like, face_jpeg
from rule_fixtures import NOW, item, store

import scanner
from scanner.model import Finding
from scanner.policy.evaluate import Facts, evaluate
from scanner.policy.loader import LoadedRule, Policy, load_policy

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _scan(root: Path, policy: Policy) -> tuple[Finding, ...]:
    config = scanner.ScanConfig(targets=[str(root / "share")], workers=0)
    result = scanner.scan(config, judgement=scanner.Judgement(policy))
    return result.findings


STORE = """\
  - id: {id}
    paths: ["{path}/**"]
    kinds: [{kinds}]
    purpose: {purpose}
    use: {use}
    legal_basis: [{basis}]
    retention: {{period: P10Y, from: creation}}
    region: [FR]
    owner: brand@example.org
    dpia: DPIA-1
"""


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("law")
    (root / "share" / "marketing").mkdir(parents=True)
    (root / "share" / "marketing" / "summer-party.jpg").write_bytes(face_jpeg())
    (root / "share" / "matching").mkdir(parents=True)
    np.save(root / "share" / "matching" / "gallery.npy", arcface_like(40).astype(np.float32))
    return root


def test_marketing_photos_pass_on_legitimate_interests_templates_fail_art_9(
    share: Path,
) -> None:
    policy = _write(
        share / "policy.yaml",
        "schema_version: 1\nname: org\nextends: [gdpr]\nstores:\n"
        + STORE.format(
            id="marketing",
            path="marketing",
            kinds="face_image",
            purpose="Event photos for the website",
            use="marketing",
            basis="gdpr-6-1-f",
        )
        + STORE.format(
            id="matching",
            path="matching",
            kinds="face_embedding",
            purpose="Gallery for face matching",
            use="marketing",
            basis="gdpr-6-1-f",
        ),
    )
    findings = _scan(share, load_policy(policy))
    by_store = {(f.store, f.rule_id) for f in findings}
    # the photo store: lawful on Art 6(1)(f), not special-category data: no finding at all
    assert not [f for f in findings if f.store == "marketing"], findings
    # the same basis on templates: Art 9(1) forbids it, with the right citation
    (art9,) = [f for f in findings if f.store == "matching"]
    assert art9.rule_id == "GDPR-9-1-NO-BASIS", by_store
    assert "GDPR Art 9(1)" in art9.citations and "GDPR Art 4(14)" in art9.citations
    assert "gdpr-6-1-f" in art9.message and "Art 9(2) condition" in art9.message


def test_photos_kept_for_recognition_need_an_art_9_condition(share: Path) -> None:
    text = "schema_version: 1\nname: org\nextends: [gdpr]\nstores:\n" + STORE.format(
        id="marketing",
        path="marketing",
        kinds="face_image",
        purpose="Visitor photos matched at the door",
        use="identification",
        basis="gdpr-6-1-f",
    )
    findings = _scan(share, load_policy(_write(share / "recognition.yaml", text)))
    rules = {f.rule_id for f in findings if f.store == "marketing"}
    assert rules == {"GDPR-9-1-NO-BASIS"}
    # with an Art 9(2) condition (and its Art 6 basis) it passes
    fixed = text.replace("[gdpr-6-1-f]", "[gdpr-6-1-f, gdpr-9-2-a]")
    fixed = fixed.replace("region: [FR]", "region: [FR]\n    consent_register: consents")
    fixed += (
        "    subject: {path_pattern: '(?P<subject>summer-party)'}\n"
        "registers:\n  - id: consents\n    kind: consent\n    source: csv:consents.csv\n"
        "    key_column: subject\n    granted_column: granted\n"
    )
    _write(share / "consents.csv", "subject,granted\nsummer-party,2020-01-01\n")
    findings = _scan(share, load_policy(_write(share / "recognition-ok.yaml", fixed)))
    assert not [f for f in findings if f.store == "marketing"], findings


def test_marketing_photos_without_an_art_6_basis_fail_art_6(share: Path) -> None:
    text = "schema_version: 1\nname: org\nextends: [gdpr]\nstores:\n" + STORE.format(
        id="marketing",
        path="marketing",
        kinds="face_image",
        purpose="Event photos",
        use="event",
        basis="gdpr-9-2-e",
    )
    findings = _scan(share, load_policy(_write(share / "art6.yaml", text)))
    (f,) = [f for f in findings if f.store == "marketing"]
    assert f.rule_id == "GDPR-6-1-NO-BASIS" and "GDPR Art 6(1)" in f.citations
    assert "does not replace the Art 6(1) basis" in f.message


# -- per-pack tables -----------------------------------------------------------------------
# (pack, region, kind, store use, legal basis) -> the basis/consent rules of the pack that fire.
# Retention, record and DPIA rules are satisfied by the store in every row.

TABLE = [
    # GDPR: Art 6 for photos not used to identify, Art 9 for templates, tags, recognition
    ("gdpr", "FR", "face_image", "marketing", "gdpr-6-1-f", set()),
    ("gdpr", "FR", "face_image", "event", "gdpr-6-1-a", {"GDPR-6-1-A-CONSENT"}),
    ("gdpr", "FR", "face_image", "event", "x-none", {"GDPR-6-1-NO-BASIS"}),
    ("gdpr", "FR", "face_image", "identification", "gdpr-6-1-f", {"GDPR-9-1-NO-BASIS"}),
    ("gdpr", "FR", "face_image", "verification", "gdpr-9-2-b", set()),
    ("gdpr", "FR", "face_image", None, "gdpr-6-1-f", {"GDPR-9-1-PHOTO-NO-BASIS"}),
    ("gdpr", "FR", "face_embedding", "marketing", "gdpr-6-1-f", {"GDPR-9-1-NO-BASIS"}),
    ("gdpr", "FR", "face_embedding", None, "gdpr-9-2-b", set()),
    ("gdpr", "FR", "face_tagged", "marketing", "gdpr-6-1-f", {"GDPR-9-1-NO-BASIS"}),
    # UK GDPR: the same, with UK ids; EU ids do not count
    ("uk-gdpr", "GB", "face_image", "marketing", "uk-gdpr-6-1-f", set()),
    ("uk-gdpr", "GB", "face_image", "marketing", "gdpr-6-1-f", {"UK-GDPR-6-1-NO-BASIS"}),
    ("uk-gdpr", "GB", "face_image", "recognition", "uk-gdpr-6-1-f", {"UK-GDPR-9-1-NO-BASIS"}),
    ("uk-gdpr", "GB", "face_embedding", "event", "uk-gdpr-6-1-f", {"UK-GDPR-9-1-NO-BASIS"}),
    ("uk-gdpr", "GB", "face_embedding", None, "uk-gdpr-9-2-a", {"UK-GDPR-9-2-A-CONSENT"}),
    # BIPA: photographs excluded (14/10) whatever the use; templates need a written release
    ("bipa", "US-IL", "face_image", "identification", "x-none", set()),
    ("bipa", "US-IL", "face_embedding", "marketing", "gdpr-6-1-f", {"BIPA-15-B-NO-RELEASE"}),
    ("bipa", "US-IL", "face_embedding", None, "bipa-written-release", {"BIPA-15-B-RELEASE"}),
    # Texas: a record of face geometry, not a photograph
    ("texas-cubi", "US-TX", "face_image", "identification", "x-none", set()),
    ("texas-cubi", "US-TX", "face_embedding", None, "x-none", {"TX-503-001-B-NO-CONSENT"}),
    # Washington: photographs and data generated from them excluded
    ("washington", "US-WA", "face_image", "identification", "x-none", set()),
    ("washington", "US-WA", "face_embedding", None, "x-none", {"WA-19-375-020-NO-BASIS"}),
    # CCPA: face imagery from which a faceprint can be extracted: photos too
    ("ccpa-cpra", "US-CA", "face_image", "marketing", "x-none", {"CCPA-1798-100-NOTICE"}),
    ("ccpa-cpra", "US-CA", "face_image", "marketing", "ccpa-notice", set()),
    # Colorado: biometric identifiers, photographs excluded
    ("colorado", "US-CO", "face_image", "identification", "x-none", set()),
    ("colorado", "US-CO", "face_embedding", None, "x-none", {"CO-6-1-1314-NO-CONSENT"}),
]


def _basis_rules(pack: str) -> list[LoadedRule]:
    policy = load_policy(POLICIES / f"{pack}.yaml")
    return [r for r in policy.rules if r.rule.check in ("no_legal_basis", "consent")]


@pytest.mark.parametrize(
    ("pack", "region", "kind", "use", "basis", "wanted"),
    TABLE,
    ids=[f"{p}-{k}-{u}-{b}" for p, _, k, u, b, _ in TABLE],
)
def test_pack_table(
    pack: str, region: str, kind: str, use: str | None, basis: str, wanted: set[str]
) -> None:
    rules = tuple(_basis_rules(pack))
    probe = rules[0]
    st = store(probe, use=use, legal_basis=[basis], region=[region], kinds=[kind])
    policy = Policy("t", "t", ("t.yaml",), "0" * 64, (pack,), rules, (st,), ())
    it = item(kind=kind)
    found = evaluate((it,), policy, Facts(), NOW)
    assert {f.rule_id for f in found} == wanted, [(f.rule_id, f.message) for f in found]


# -- overrides per store ---------------------------------------------------------------------


def test_two_stores_get_different_outcomes_for_the_same_rule(tmp_path: Path) -> None:
    """GDPR-9-1-PHOTO-NO-BASIS fires in three photo stores: raised to high in one, switched
    off in another, left alone in the third; CO-6-1-1314-2Y's ceiling is shortened for one
    template store only."""
    import os
    import time

    share = tmp_path / "share"
    for folder in ("events", "archive", "plain"):
        (share / folder).mkdir(parents=True)
        (share / folder / "p.jpg").write_bytes(face_jpeg())
    for folder in ("kiosk", "gallery"):
        (share / folder).mkdir(parents=True)
        vectors = share / folder / "v.npy"
        np.save(vectors, arcface_like(40).astype(np.float32))
        ten_days_ago = time.time() - 10 * 86400
        os.utime(vectors, (ten_days_ago, ten_days_ago))
    common = (
        "    legal_basis: [x-none, colorado-consent]\n"
        "    retention: {period: P10Y}\n    owner: o\n    purpose: p\n    dpia: d\n"
        "    retention_schedule_url: https://example.org/r\n"
    )
    text = (
        "schema_version: 1\nname: org\nextends: [gdpr, colorado]\nstores:\n"
        '  - id: events\n    paths: ["events/**"]\n    region: [FR]\n' + common + ""
        "    overrides:\n      - rule: GDPR-9-1-PHOTO-NO-BASIS\n        severity: high\n"
        "        reason: our event photos are shown at the door\n"
        '  - id: archive\n    paths: ["archive/**"]\n    region: [FR]\n' + common + ""
        "    overrides:\n      - rule: GDPR-9-1-PHOTO-NO-BASIS\n        enabled: false\n"
        '  - id: plain\n    paths: ["plain/**"]\n    region: [FR]\n' + common + ""
        '  - id: kiosk\n    paths: ["kiosk/**"]\n    region: [US-CO]\n' + common + ""
        "    overrides:\n      - rule: CO-6-1-1314-2Y\n        max_period: P7D\n"
        '  - id: gallery\n    paths: ["gallery/**"]\n    region: [US-CO]\n' + common
    )
    policy = load_policy(_write(tmp_path / "org.yaml", text))
    findings = _scan(tmp_path, policy)
    photo = {f.store: f for f in findings if f.rule_id == "GDPR-9-1-PHOTO-NO-BASIS"}
    assert set(photo) == {"events", "plain"}  # switched off for the archive only
    assert photo["events"].severity.label == "high" and photo["plain"].severity.label == "low"
    assert dict(photo["events"].facts)["store_override"] == (
        "severity=high (our event photos are shown at the door)"
    )
    assert "store_override" not in dict(photo["plain"].facts)
    ceiling = {f.store: f for f in findings if f.rule_id == "CO-6-1-1314-2Y"}
    assert set(ceiling) == {"kiosk"}  # 10 days old: past 7 days, well within 2 years
    assert dict(ceiling["kiosk"].facts)["retention"] == "P7D"
    # the policy-wide rule is unchanged
    rule = policy.rule("GDPR-9-1-PHOTO-NO-BASIS")
    assert rule is not None and rule.enabled and rule.severity.label == "low"


def test_a_store_override_keeps_the_pair_of_stores_in_view() -> None:
    """FA-ORPHANED-PAIR judges a store against its partner: an override on one of the two
    must not hide the partner's data (no false orphan), and still changes its own finding."""
    from dataclasses import replace as changed

    from scanner.model import FileLocation
    from scanner.policy.declarations import StoreOverride

    base = load_policy(POLICIES / "faceaudit-base.yaml")
    (rule,) = [r for r in base.rules if r.id == "FA-ORPHANED-PAIR"]
    crops = store(rule, pairs_with="vectors").model_copy(
        update={"overrides": [StoreOverride(rule="FA-ORPHANED-PAIR", severity="critical")]}
    )
    vectors = store(rule, id="vectors", paths=["vectors/**"], pairs_with="hr-badges")
    policy = Policy("t", "t", ("t.yaml",), "0" * 64, ("t",), (rule,), (crops, vectors), ())
    photo = item()
    template = changed(item(kind="face_embedding"), location=FileLocation("org/vectors/E1.npy"))
    assert evaluate((photo, template), policy, Facts(), NOW) == ()
    (orphan,) = evaluate((photo,), policy, Facts(), NOW)
    assert orphan.store == "hr-badges" and orphan.severity.label == "critical"
    assert dict(orphan.facts)["store_override"] == "severity=critical"
