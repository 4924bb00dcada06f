"""Invalid policies are refused as a whole, with errors that name the file, the line and the
rule id; valid ones are merged (extends, overrides) into one frozen Policy.

Each fixture in invalid/ starts with one header line per expected error:

    # expect: LINE [RULE-ID] message fragment

where LINE or RULE-ID is `-` when the error has none. Files under invalid/parts/ are only
extended by fixtures and are not fixtures themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.policy.loader import PolicyError, PolicyErrors, builtin_packs, load_policy
from scanner.policy.yamlsource import MAX_POLICY_BYTES

INVALID = Path(__file__).resolve().parent / "invalid"
FIXTURES = sorted(INVALID.glob("*.yaml"))
_EXPECT = re.compile(r"# expect: (?P<line>\d+|-) \[(?P<rule>[^\]]+)\] (?P<fragment>.+)")

# The cases the policy language promises to refuse; each has a fixture of that name.
REQUIRED = {
    "unknown-key",
    "bad-severity",
    "bad-duration-pt1h",
    "unknown-legal-basis",
    "duplicate-key",
    "duplicate-rule-id",
    "extends-cycle",
    "unknown-pack",
    "override-unknown-rule",
    "min-tool-version",
    "schema-version-2",
    "bad-region",
    "store-without-paths",
    "register-without-table",
    "consent-register-without-granted",
    "store-undeclared-register",
    "register-kind-mismatch",
    "subject-regex-without-group",
    "python-object-tag",
    "not-a-mapping",
    "not-utf8",
    "store-override-unknown-rule",
    "store-override-max-period",
    "store-override-no-change",
    "store-override-twice",
    "store-path-absolute",
    "store-bad-use",
    "extends-and-schema-errors",
}


@dataclass(frozen=True)
class Expected:
    line: int | None
    rule: str | None
    fragment: str


def expectations(path: Path) -> list[Expected]:
    # latin-1 never fails, so the not-UTF-8 fixture's header can be read too
    out = []
    for text in path.read_bytes().decode("latin-1").splitlines():
        m = _EXPECT.fullmatch(text.rstrip())
        if m:
            line, rule = m["line"], m["rule"]
            out.append(
                Expected(
                    None if line == "-" else int(line), None if rule == "-" else rule, m["fragment"]
                )
            )
    return out


def errors_of(path: Path, tool_version: str = "0.1.0") -> tuple[PolicyError, ...]:
    with pytest.raises(PolicyErrors) as info:
        load_policy(path, tool_version=tool_version)
    return info.value.errors


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


RULE = """\
  - id: {id}
    check: store_field_missing
    fields: [owner]
    severity: {severity}
    title: No owner
    citations: ["GDPR Art 30"]
    remediation: Name one.
"""


def test_there_is_a_fixture_for_every_promised_error() -> None:
    names = {p.stem for p in FIXTURES}
    assert names >= REQUIRED, sorted(REQUIRED - names)
    assert len(FIXTURES) >= 20


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_invalid_policy_is_refused_naming_file_line_and_rule(path: Path) -> None:
    wanted = expectations(path)
    assert wanted, f"{path.name} has no '# expect:' header"
    errors = errors_of(path)
    got = [(e.line, e.rule, e.message) for e in errors]
    assert len(errors) == len(wanted), got
    for want, err in zip(wanted, errors, strict=True):
        assert Path(err.file) == path.resolve()
        assert (err.line, err.rule) == (want.line, want.rule), got
        assert want.fragment in err.message, got


def test_errors_render_as_file_line_rule_message(tmp_path: Path) -> None:
    path = write(
        tmp_path / "org.yaml",
        "schema_version: 1\nname: org\nrules:\n" + RULE.format(id="ORG-X", severity="urgent"),
    )
    (err,) = errors_of(path)
    assert str(err) == (
        f"{path}:7: [ORG-X] rules.0.severity: Input should be 'info', 'low', 'medium', "
        "'high' or 'critical'"
    )
    # without a rule, and without a line
    assert str(PolicyError("p.yaml", 3, None, "boom")) == "p.yaml:3: boom"
    assert str(PolicyError("p.yaml", None, None, "not UTF-8 text")) == "p.yaml: not UTF-8 text"


def test_policy_errors_carries_every_error_in_its_message(tmp_path: Path) -> None:
    path = write(
        tmp_path / "org.yaml",
        "schema_version: 1\nname: org\nrules:\n"
        + RULE.format(id="ORG-A", severity="urgent")
        + RULE.format(id="ORG-B", severity="severe"),
    )
    with pytest.raises(PolicyErrors) as info:
        load_policy(path)
    assert [e.rule for e in info.value.errors] == ["ORG-A", "ORG-B"]
    assert [e.line for e in info.value.errors] == [7, 14]
    assert str(info.value).count(str(path)) == 2


def test_an_error_in_an_extended_file_names_that_file(tmp_path: Path) -> None:
    inner = write(
        tmp_path / "shared" / "inner.yaml",
        "schema_version: 1\nname: inner\nrules:\n" + RULE.format(id="IN-1", severity="loud"),
    )
    top = write(
        tmp_path / "org" / "top.yaml",
        "schema_version: 1\nname: top\nextends: [../shared/inner.yaml]\n",
    )
    (err,) = errors_of(top)
    assert (Path(err.file), err.line, err.rule) == (inner, 7, "IN-1")


def test_an_unreadable_extended_file_is_an_error(tmp_path: Path) -> None:
    top = write(tmp_path / "top.yaml", "schema_version: 1\nname: top\nextends: [missing.yaml]\n")
    (err,) = errors_of(top)
    assert Path(err.file) == tmp_path / "missing.yaml"
    assert "cannot read" in err.message


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("schema_version: 1\nname: big\n" + "# padding\n" * (MAX_POLICY_BYTES // 10))
    (err,) = errors_of(path)
    assert "larger than" in err.message


def test_an_empty_file_is_missing_its_schema_version(tmp_path: Path) -> None:
    (err,) = errors_of(write(tmp_path / "empty.yaml", ""))
    assert "schema_version must be 1" in err.message


def test_min_tool_version_is_compared_as_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "v.yaml", 'schema_version: 1\nname: v\nmin_tool_version: "0.10"\n')
    assert load_policy(path, tool_version="0.10.0").name == "v"
    assert load_policy(path, tool_version="1.0").name == "v"
    (err,) = errors_of(path, tool_version="0.9.9")
    assert (err.line, err.message) == (3, "needs faceaudit >= 0.10 (this is 0.9.9)")


def test_extends_resolves_packs_by_name_and_files_relative_to_the_extender(tmp_path: Path) -> None:
    write(
        tmp_path / "shared" / "company.yaml",
        "schema_version: 1\nname: company\nextends: [gdpr]\nrules:\n"
        + RULE.format(id="CO-OWNER", severity="low"),
    )
    top = write(
        tmp_path / "teams" / "hr.yaml",
        "schema_version: 1\nname: hr\nextends: [../shared/company.yaml, bipa]\n",
    )
    policy = load_policy(top)
    assert policy.packs == ("faceaudit-base", "gdpr", "company", "bipa", "hr")
    assert policy.rule("CO-OWNER") is not None
    assert policy.rule("GDPR-9-1-NO-BASIS") is not None
    assert policy.rule("BIPA-15-A-SCHEDULE") is not None
    # faceaudit-base reached through gdpr and bipa is loaded once
    assert sum(1 for f in policy.files if f.endswith("faceaudit-base.yaml")) == 1
    assert len({r.id for r in policy.rules}) == len(policy.rules)


def test_overrides_change_severity_enabled_and_applies_in_and_keep_the_reason(
    tmp_path: Path,
) -> None:
    top = write(
        tmp_path / "org.yaml",
        """\
schema_version: 1
name: org
extends: [gdpr, eu-ai-act]
overrides:
  - rule: GDPR-35-NO-DPIA
    severity: critical
    reason: DPO instruction
  - rule: GDPR-9-1-PHOTO-NO-BASIS
    enabled: false
    reason: photos are never matched
  - rule: AIACT-5-1-E-SCRAPED
    applies_in: [EU]
    reason: EU market only
""",
    )
    policy = load_policy(top)
    dpia = policy.rule("GDPR-35-NO-DPIA")
    photo = policy.rule("GDPR-9-1-PHOTO-NO-BASIS")
    scraped = policy.rule("AIACT-5-1-E-SCRAPED")
    assert dpia is not None and photo is not None and scraped is not None
    assert dpia.severity.label == "critical"
    assert dpia.override_reason == "DPO instruction"
    assert not photo.enabled and photo not in policy.enabled_rules
    assert scraped.applies_in == ("EU",)
    # the rule itself still says where it was defined
    assert dpia.pack == "gdpr" and dpia.file.endswith("gdpr.yaml")
    assert dpia.line is not None
    text = Path(dpia.file).read_text(encoding="utf-8").splitlines()
    assert text[dpia.line - 1].strip() == "- id: GDPR-35-NO-DPIA"


def test_register_dirs_are_the_folder_of_the_declaring_file(tmp_path: Path) -> None:
    write(
        tmp_path / "shared" / "registers.yaml",
        """\
schema_version: 1
name: registers
registers:
  - id: leavers
    kind: end_of_purpose
    source: csv:leavers.csv
    key_column: employee_id
    time_column: left_on
""",
    )
    top = write(
        tmp_path / "org" / "org.yaml",
        """\
schema_version: 1
name: org
extends: [../shared/registers.yaml]
stores:
  - id: badges
    paths: ["hr/badges/**"]
    subject: {path_pattern: '(?P<subject>E\\d{6})'}
    end_of_purpose_register: leavers
""",
    )
    policy = load_policy(top)
    assert policy.register_dirs == {"leavers": tmp_path / "shared"}
    store = policy.store("badges")
    assert store is not None and store.end_of_purpose_register == "leavers"


def test_the_policy_digest_changes_with_any_file(tmp_path: Path) -> None:
    inner = write(tmp_path / "inner.yaml", "schema_version: 1\nname: inner\n")
    top = write(tmp_path / "top.yaml", "schema_version: 1\nname: top\nextends: [inner.yaml]\n")
    before = load_policy(top).digest
    inner.write_text("schema_version: 1\nname: inner\ntitle: changed\n", encoding="utf-8")
    assert load_policy(top).digest != before


def test_every_builtin_pack_is_found_by_name() -> None:
    assert set(builtin_packs()) >= {
        "faceaudit-base",
        "gdpr",
        "uk-gdpr",
        "bipa",
        "texas-cubi",
        "washington",
        "ccpa-cpra",
        "colorado",
        "eu-ai-act",
        "example-org",
    }


# -- what the loader does not do yet (scanner/ belongs to the policy-language owner) -------


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


@pytest.mark.parametrize(
    ("fixture", "needle"),
    [
        ("store-undeclared-register", "consent_register: kyc-consent"),
        ("register-kind-mismatch", "activity_register: kyc-consents"),
        ("register-needs-subject", "end_of_purpose_register: leavers"),
        ("pairs-with-undeclared", "pairs_with: vectors"),
    ],
)
def test_reference_errors_name_the_line_of_the_reference(fixture: str, needle: str) -> None:
    path = INVALID / f"{fixture}.yaml"
    (err,) = errors_of(path)
    assert err.line == _line_of(path, needle)


def test_an_extends_cycle_names_the_extends_entry_that_opens_it() -> None:
    path = INVALID / "extends-cycle.yaml"
    (err,) = errors_of(path)
    assert Path(err.file) == path.resolve() and err.line == _line_of(path, "extends:")


def test_a_python_tag_on_a_collection_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "tagged.yaml",
        "schema_version: 1\nname: tagged\nextends: !!python/object/apply:os.getcwd []\n",
    )
    (err,) = errors_of(path)
    assert err.line == 3 and "tag" in err.message


def test_yaml_syntax_errors_say_what_is_wrong_in_plain_words_and_where(tmp_path: Path) -> None:
    cases = {
        "schema_version: 1\nname: x\nrules:\n  - id: T\n   check: a\n": (
            5,
            4,
            "this line is indented differently from the lines above it",
        ),
        "schema_version: 1\nname: x\ntitle: Faces: all of them\n": (
            3,
            13,
            "put the value in quotes",
        ),
        "schema_version: 1\nname: x\n\tfoo: 1\n": (3, 1, "a tab character"),
        "schema_version: 1\nextends: [gdpr, bipa\nname: x\n": (2, 10, "not closed with ']'"),
        "schema_version: 1\nname: 'x\n": (2, 7, "a closing quote is missing"),
        "schema_version: 1\nname\ntitle: t\n": (2, 1, "a ':' is missing"),
    }
    for n, (text, (line, column, words)) in enumerate(cases.items()):
        path = write(tmp_path / f"p{n}.yaml", text)
        (err,) = errors_of(path)
        assert (err.line, err.column) == (line, column), (text, err)
        assert err.message.startswith("invalid YAML: ") and words in err.message, err
        assert "(parser: " in err.message  # the parser's own words, for a search
        assert str(err).startswith(f"{path}:{line}:{column}: invalid YAML: ")


def test_valid_fixtures_load(tmp_path: Path) -> None:
    for path in sorted((Path(__file__).resolve().parent / "valid").glob("*.yaml")):
        policy = load_policy(path)
        assert policy.stores, path.name


def test_the_library_names_a_misspelt_pack_with_a_suggestion() -> None:
    import scanner

    with pytest.raises(PolicyErrors) as info:
        scanner.load_policy("gdrp")
    (err,) = info.value.errors
    assert err.message == "unknown pack 'gdrp' (did you mean gdpr?)"
    assert scanner.load_policy("gdpr").name == "gdpr"


def test_container_action_from_the_policy_and_its_stores(tmp_path: Path) -> None:
    """`remediation: {container_action}` (the last file that sets it wins) and a store's own."""
    fixture = Path(__file__).resolve().parent / "valid" / "container-action.yaml"
    policy = load_policy(fixture)
    assert policy.container_action == "manual"
    assert {s.id: s.container_action for s in policy.stores} == {"laptop-backups": "whole"}
    assert load_policy(builtin_packs()["gdpr"]).container_action == "manual"  # the default
    top = write(
        tmp_path / "org.yaml",
        f"schema_version: 1\nname: org\nextends: [{fixture}]\n"
        "remediation:\n  container_action: whole\n",
    )
    assert load_policy(top).container_action == "whole"
    grace_only = write(
        tmp_path / "grace.yaml",
        f"schema_version: 1\nname: grace\nextends: [{top}]\nremediation:\n  grace_days: 3\n",
    )
    assert load_policy(grace_only).container_action == "whole"  # not set here: inherited
