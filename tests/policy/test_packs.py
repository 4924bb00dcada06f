"""The shipped packs: each loads through the one loader, every rule is complete (citations,
remediation, an official https source), ids are unique across packs, the example organisation
policy works with its own registers, and policies/README.md documents all of it."""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pydantic import BaseModel

from scanner.policy import schema as s
from scanner.policy.bases import BASES, is_known
from scanner.policy.checks.no_legal_basis import NoLegalBasis
from scanner.policy.checks.restricted_jurisdiction import RestrictedJurisdiction
from scanner.policy.checks.retention_exceeded import RetentionExceeded
from scanner.policy.checks.scraped_provenance import ScrapedProvenance
from scanner.policy.checks.store_field_missing import StoreFieldMissing
from scanner.policy.loader import PACKS_DIR, LoadedRule, Policy, load_policy
from scanner.policy.registers import load_register

POLICIES = Path(__file__).resolve().parents[2] / "policies"
PACK_FILES = sorted(POLICIES.glob("*.yaml"))
README = POLICIES / "README.md"
EXAMPLE = POLICIES / "example-org.yaml"

LAW_PACKS = {
    # pack: (where it applies, official hosts of its help_uri, how its citations begin)
    "gdpr": ({"EEA"}, {"eur-lex.europa.eu"}, ("GDPR ",)),
    "uk-gdpr": ({"GB"}, {"www.legislation.gov.uk"}, ("UK GDPR ", "DPA 2018")),
    "bipa": ({"US-IL"}, {"www.ilga.gov"}, ("740 ILCS 14/",)),
    "texas-cubi": ({"US-TX"}, {"statutes.capitol.texas.gov"}, ("Tex. Bus. & Com. Code §503.001",)),
    "washington": ({"US-WA"}, {"app.leg.wa.gov"}, ("RCW 19.375.",)),
    "ccpa-cpra": ({"US-CA"}, {"leginfo.legislature.ca.gov"}, ("Cal. Civ. Code 1798.1",)),
    "colorado": ({"US-CO"}, {"leg.colorado.gov"}, ("C.R.S. 6-1-1314",)),
    # the prohibition follows the market, not the subjects: no applies_in (see the README)
    "eu-ai-act": (set(), {"eur-lex.europa.eu"}, ("Reg. 2024/1689 Art 5(1)(e)",)),
}


@cache
def loaded(path: Path) -> Policy:
    return load_policy(path)


def own_rules(path: Path) -> list[LoadedRule]:
    """The rules a pack file defines itself (not those it extends)."""
    policy = loaded(path)
    return [r for r in policy.rules if Path(r.file) == path.resolve()]


ALL_RULES = [(p.stem, r) for p in PACK_FILES for r in own_rules(p)]


@cache
def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_loader_reads_this_folder() -> None:
    assert PACKS_DIR.resolve() == POLICIES.resolve()
    assert {p.stem for p in PACK_FILES} == {*LAW_PACKS, "faceaudit-base", "example-org"}


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: p.stem)
def test_pack_loads_and_is_named_after_its_file(path: Path) -> None:
    policy = loaded(path)
    assert policy.name == path.stem
    assert policy.packs[-1] == path.stem
    assert own_rules(path), f"{path.name} defines no rules"
    if path.stem != "faceaudit-base":
        assert "faceaudit-base" in policy.packs  # every pack extends the tool-level rules


@pytest.mark.parametrize(("pack", "rule"), ALL_RULES, ids=[r.id for _, r in ALL_RULES])
def test_rule_is_complete(pack: str, rule: LoadedRule) -> None:
    r = rule.rule
    assert r.title and r.description.strip(), "title and description"
    assert r.citations and all(c.strip() for c in r.citations)
    assert len(r.remediation.strip()) >= 20
    assert r.help_uri is not None and urlparse(r.help_uri).scheme == "https"
    assert urlparse(r.help_uri).netloc
    assert rule.enabled, "packs ship enabled rules; organisations switch them off"
    assert rule.line is not None


def test_rule_ids_are_unique_across_packs() -> None:
    ids = [r.id for _, r in ALL_RULES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_all_packs_together_load(tmp_path: Path) -> None:
    """An organisation may extend every pack at once: no id clash, one shared base."""
    everything = tmp_path / "all.yaml"
    names = ", ".join(p.stem for p in PACK_FILES if p.stem != "example-org")
    everything.write_text(f"schema_version: 1\nname: all\nextends: [{names}]\n")
    policy = load_policy(everything)
    expected = {r.id for pack, r in ALL_RULES if pack != "example-org"}
    assert {r.id for r in policy.rules} == expected


@pytest.mark.parametrize("pack", sorted(LAW_PACKS))
def test_law_pack_applies_where_its_law_does_and_cites_it(pack: str) -> None:
    regions, hosts, prefixes = LAW_PACKS[pack]
    for rule in own_rules(POLICIES / f"{pack}.yaml"):
        assert set(rule.applies_in) == regions, rule.id
        assert urlparse(rule.rule.help_uri or "").netloc in hosts, rule.id
        for citation in rule.rule.citations:
            assert citation.startswith(prefixes), (rule.id, citation)


def test_faceaudit_base_holds_the_tool_level_rules() -> None:
    rules = {r.id: r for r in own_rules(POLICIES / "faceaudit-base.yaml")}
    pickle = rules["FA-SEC-PICKLE-CODE"]
    assert pickle.rule.check == "executable_code"
    assert pickle.severity.label == "critical"
    assert list(pickle.rule.kinds) == ["executable_code"]
    undeclared = rules["FA-UNDECLARED-STORE"]
    assert undeclared.rule.check == "undeclared_store" and undeclared.severity.label == "high"
    assert "GDPR Art 30" in undeclared.rule.citations
    orphaned = rules["FA-ORPHANED-PAIR"]
    assert orphaned.rule.check == "orphaned_pair"
    assert {"GDPR Art 17", "GDPR Art 5(1)(e)"} <= set(orphaned.rule.citations)
    assert all(not r.applies_in for r in rules.values())


def test_every_check_is_used_by_a_shipped_pack() -> None:
    used = {r.rule.check for _, r in ALL_RULES}
    assert used == set(s.CHECKS)


def test_accepted_bases_are_known_ids() -> None:
    for _, rule in ALL_RULES:
        if isinstance(rule.rule, NoLegalBasis):
            for basis in rule.rule.accepted_bases:
                assert is_known(basis), (rule.id, basis)


def test_gdpr_and_uk_gdpr_accept_every_condition_of_their_own_law_and_article() -> None:
    """Art 9 rules accept every Art 9(2) condition and nothing else; Art 6 rules every
    Art 6(1) basis and nothing else - of their own law (EU ids do not count in the UK)."""
    for prefix, path in (("gdpr", "gdpr.yaml"), ("uk-gdpr", "uk-gdpr.yaml")):
        art9 = {b for b in BASES if b.startswith(f"{prefix}-9-2-")}
        art6 = {b for b in BASES if b.startswith(f"{prefix}-6-1-")}
        assert len(art9) == 10 and len(art6) == 6
        for rule in own_rules(POLICIES / path):
            if isinstance(rule.rule, NoLegalBasis):
                wanted = art6 if "-6-1-" in rule.id else art9
                assert set(rule.rule.accepted_bases) == wanted, rule.id


@pytest.mark.parametrize("pack", ["bipa", "washington", "colorado"])
def test_laws_that_exclude_photographs_never_judge_photos(pack: str) -> None:
    for rule in own_rules(POLICIES / f"{pack}.yaml"):
        assert list(rule.rule.kinds) == ["face_embedding"], rule.id


def test_recital_51_photos_are_judged_by_their_stores_use() -> None:
    """Templates and tags are always biometric (Art 9, high); photos are biometric only in a
    store used for recognition; photos of another use need an Art 6 basis; photos of a store
    that declares no use get the low reminder."""
    for prefix, path in (("GDPR", "gdpr.yaml"), ("UK-GDPR", "uk-gdpr.yaml")):
        rules = {r.id: r for r in own_rules(POLICIES / path)}
        identifying = rules[f"{prefix}-9-1-NO-BASIS"]
        photos = rules[f"{prefix}-9-1-PHOTO-NO-BASIS"]
        art6 = rules[f"{prefix}-6-1-NO-BASIS"]
        assert set(identifying.rule.kinds) == {"face_image", "face_embedding", "face_tagged"}
        assert identifying.rule.data == ["biometric"] and identifying.severity.label == "high"
        assert list(photos.rule.kinds) == ["face_image"] and photos.severity.label == "low"
        assert photos.rule.data == ["photo_use_undeclared"]
        assert list(art6.rule.kinds) == ["face_image"] and art6.rule.data == ["photo"]
        assert "Recital 51" in photos.rule.description or "enrolled" in photos.rule.description


def _rule(rule_id: str) -> s.Rule:
    return next(r.rule for _, r in ALL_RULES if r.id == rule_id)


@pytest.mark.parametrize(
    ("rule_id", "max_period", "starts"),
    [
        ("BIPA-15-A-3Y-LAST-INTERACTION", "P3Y", "last_interaction"),
        ("BIPA-15-A-PURPOSE-SATISFIED", "P0D", "end_of_purpose"),
        ("BIPA-15-A-RETENTION", None, "creation"),
        ("TX-503-001-C3-DESTROY", "P1Y", "end_of_purpose"),
        ("CO-6-1-1314-2Y", "P2Y", "creation"),
        ("GDPR-5-1-E-RETENTION", None, "creation"),
        ("UK-GDPR-5-1-E-RETENTION", None, "creation"),
        ("WA-19-375-020-4-RETENTION", None, "creation"),
        ("CCPA-1798-100-A3-EXCEEDED", None, "creation"),
    ],
)
def test_retention_ceilings_are_the_laws(rule_id: str, max_period: str | None, starts: str) -> None:
    rule = _rule(rule_id)
    assert isinstance(rule, RetentionExceeded)
    assert (rule.max_period, rule.starts) == (max_period, starts)


@pytest.mark.parametrize(
    ("rule_id", "fields"),
    [
        ("GDPR-5-1-E-NO-RETENTION", ["retention"]),
        ("GDPR-35-NO-DPIA", ["dpia"]),
        ("UK-GDPR-5-1-E-NO-RETENTION", ["retention"]),
        ("UK-GDPR-35-NO-DPIA", ["dpia"]),
        ("CCPA-1798-100-A3-RETENTION", ["retention"]),
        ("BIPA-15-A-SCHEDULE", ["retention_schedule_url"]),
    ],
)
def test_store_duties(rule_id: str, fields: list[str]) -> None:
    rule = _rule(rule_id)
    assert isinstance(rule, StoreFieldMissing) and list(rule.fields) == fields


def test_scraping_rules() -> None:
    for rule_id in (
        "AIACT-5-1-E-SCRAPED",
        "AIACT-5-1-E-SCRAPED-TEMPLATES",
        "TX-503-001-B1-PUBLIC-IMAGES",
    ):
        rule = _rule(rule_id)
        assert isinstance(rule, ScrapedProvenance) and rule.platforms == []
    assert "face_image" in _rule("AIACT-5-1-E-SCRAPED").kinds  # provenance lives on images


def test_unconfirmed_facts_say_verify() -> None:
    """LAW.md marks Colorado's destruction triggers "verify"; the secondary-source Texas
    penalty is to be verified too."""
    for _, rule in ALL_RULES:
        text = rule.rule.description
        if rule.pack == "colorado" and isinstance(rule.rule, RetentionExceeded):
            assert "verif" in text, rule.id
        if "$25,000" in text:
            assert "verify" in text, rule.id


# -- the example organisation policy ---------------------------------------------------------


def test_example_org_extends_the_packs_and_declares_its_record() -> None:
    policy = loaded(EXAMPLE)
    assert {"faceaudit-base", "gdpr", "uk-gdpr", "bipa", "ccpa-cpra", "eu-ai-act"} <= set(
        policy.packs
    )
    badges = policy.store("hr-badges")
    assert badges is not None and badges.retention is not None
    assert (badges.retention.period, badges.retention.starts) == ("P30D", "end_of_purpose")
    assert "gdpr-9-2-b" in badges.legal_basis
    kyc = policy.store("kyc-templates")
    assert kyc is not None and kyc.consent_register is not None
    assert "gdpr-9-2-a" in kyc.legal_basis
    assert {st.id for st in policy.stores} >= {"hr-badges", "kyc-templates", "marketing"}
    registers = {r.id: r for r in policy.registers}
    assert registers[badges.end_of_purpose_register or ""].source.startswith("csv:")
    assert registers[kyc.consent_register].source.startswith("csv:")
    uk = policy.rule("ORG-NO-UK-RESIDENTS")
    assert uk is not None and isinstance(uk.rule, RestrictedJurisdiction)
    assert uk.rule.countries == ["GB"]
    overridden = [r for r in policy.rules if r.override_reason]
    assert len(overridden) >= 3
    assert all(len(r.override_reason or "") > 20 for r in overridden)


def test_example_org_pairs_are_declared_both_ways() -> None:
    policy = loaded(EXAMPLE)
    for store in policy.stores:
        if store.pairs_with:
            other = policy.store(store.pairs_with)
            assert other is not None and other.pairs_with == store.id


@pytest.mark.parametrize(
    ("store_id", "path", "subject"),
    [
        ("hr-badges", "org/hr/badges/E100234.jpg", "E100234"),
        ("hr-badges", "/srv/acme/hr/badges/E100871_2024.heic", "E100871"),
        ("kyc-selfies", "data/kyc/selfies/C00000001/2025-01-02.jpg", "C00000001"),
    ],
)
def test_example_org_subject_patterns(store_id: str, path: str, subject: str) -> None:
    store = loaded(EXAMPLE).store(store_id)
    assert store is not None and store.subject is not None and store.subject.path_pattern
    m = re.search(store.subject.path_pattern, path)
    assert m is not None and m["subject"] == subject


def test_example_org_registers_are_read_by_the_engine() -> None:
    policy = loaded(EXAMPLE)
    data = {reg.id: load_register(reg, policy.register_dirs[reg.id]) for reg in policy.registers}
    assert set(data["hr-leavers"].records) == {"E100234", "E100871", "E101002"}
    consents = data["kyc-consents"].records
    assert consents["C00000002"].withdrawn is not None
    assert consents["C00000003"].scope == "marketing"  # out of scope for identity-verification
    assert set(data["kyc-activity"].records) == set(consents)


def test_example_org_csv_registers_have_the_declared_columns() -> None:
    policy = loaded(EXAMPLE)
    assert policy.registers and all(r.source.startswith("csv:") for r in policy.registers)
    for reg in policy.registers:
        with (policy.register_dirs[reg.id] / reg.source[4:]).open(encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        wanted = [
            reg.key_column,
            reg.time_column,
            reg.granted_column,
            reg.withdrawn_column,
            reg.expires_column,
            reg.scope_column,
        ]
        assert all(c in header for c in wanted if c), (reg.id, header)


# -- the README documents everything ----------------------------------------------------------


@pytest.mark.parametrize("rule_id", sorted(r.id for _, r in ALL_RULES))
def test_readme_mentions_every_rule(rule_id: str) -> None:
    assert f"`{rule_id}`" in readme()


@pytest.mark.parametrize("pack", sorted(p.stem for p in PACK_FILES))
def test_readme_mentions_every_pack(pack: str) -> None:
    assert f"`{pack}`" in readme()


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


MODELS: list[type[BaseModel]] = [
    s.PolicyFile,
    s.Store,
    s.Retention,
    s.SubjectKey,
    s.Register,
    s.Override,
    s.StoreOverride,
    s.Hold,
    s.HoldScope,
    *(check.model for check in s.CHECKS.values()),  # every check's rule, new ones too
]
KEYS = sorted({(m.__name__, k) for m in MODELS for k in _keys(m)})


@pytest.mark.parametrize(("model", "key"), KEYS)
def test_readme_documents_every_key(model: str, key: str) -> None:
    assert f"| `{key}` |" in readme() or f"`{key}` (" in readme(), f"{model}.{key}"


@pytest.mark.parametrize("check", s.CHECKS)
def test_readme_documents_every_check(check: str) -> None:
    assert f"| `{check}` |" in readme()


@pytest.mark.parametrize("basis", sorted(BASES))
def test_readme_documents_every_legal_basis(basis: str) -> None:
    if basis.startswith("uk-gdpr-9-2-"):
        assert "`uk-gdpr-9-2-a` … `uk-gdpr-9-2-j`" in readme()
    else:
        assert f"| `{basis}` |" in readme()


_SHORT = {
    "face_image": "image",
    "face_tagged": "tagged",
    "face_embedding": "embedding",
    "executable_code": "executable_code",
    "face_video": "video",
}


@pytest.mark.parametrize(("pack", "rule"), ALL_RULES, ids=lambda x: getattr(x, "id", x))
def test_readme_pack_table_row_states_the_rule_as_its_pack_has_it(
    pack: str, rule: LoadedRule
) -> None:
    """Each per-pack table row: severity, kinds (and `data`), where it applies, citations."""
    kinds = ", ".join(_SHORT[k] for k in rule.rule.kinds)
    if rule.rule.data:
        kinds += "; data: " + ", ".join(rule.rule.data)
    cells = [
        rule.severity.label,
        kinds,
        ", ".join(rule.applies_in) or "everywhere",
        "; ".join(rule.rule.citations),
    ]
    rows = [line for line in readme().splitlines() if line.startswith(f"| `{rule.id}` | `")]
    assert len(rows) == 1, (pack, rule.id)
    assert rows[0].split(" | ")[2:] == [*cells[:-1], cells[-1] + " |"], rows[0]
