"""The checks table: one entry per check, keyed by the name policy files use; the schema's union
of rules and the evaluator's dispatch both come from it, so a new check is one module and one
line of the table (shown here with a check that exists only in this test)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import pytest
from rule_fixtures import NOW, item, policy, store

from scanner.model import Severity
from scanner.policy import evaluate as evaluate_module
from scanner.policy.checks import CHECKS
from scanner.policy.checks.base import (
    CheckContext,
    ItemCheck,
    ItemView,
    RuleBase,
    StoreCheck,
    StoreView,
    Verdict,
)
from scanner.policy.evaluate import Facts, evaluate
from scanner.policy.loader import LoadedRule, PolicyErrors, load_policy
from scanner.policy.schema import PolicyFile


@pytest.mark.parametrize("name", list(CHECKS))
def test_each_check_is_keyed_by_the_name_its_rule_answers_to(name: str) -> None:
    (literal,) = get_args(CHECKS[name].model.model_fields["check"].annotation)
    assert literal == name


def test_the_schema_accepts_exactly_the_checks_of_the_table(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "schema_version: 1\nname: p\nrules:\n  - id: R-1\n    check: nonesuch\n"
        "    severity: low\n    title: t\n    citations: [c]\n    remediation: r\n"
    )
    with pytest.raises(PolicyErrors) as exc:
        load_policy(path)
    tags = ", ".join(repr(n) for n in CHECKS)  # in the table's order
    assert f"does not match any of the expected tags: {tags}" in str(exc.value)
    for name, check in CHECKS.items():
        rule = {"id": "R-1", "check": name, "severity": "low", "title": "t"}
        rule |= {"citations": ["c"], "remediation": "r"}
        rule |= {
            "no_legal_basis": {"accepted_bases": ["gdpr-9-2-a"]},
            "restricted_jurisdiction": {"countries": ["RU"]},
            "store_field_missing": {"fields": ["owner"]},
        }.get(name, {})
        parsed = PolicyFile.model_validate({"schema_version": 1, "name": "p", "rules": [rule]})
        assert type(parsed.rules[0]) is check.model


def test_store_duties_are_the_store_checks() -> None:
    duties = {n for n, c in CHECKS.items() if isinstance(c, StoreCheck)}
    assert duties == {"store_field_missing", "orphaned_pair"}
    assert all(isinstance(c, ItemCheck | StoreCheck) for c in CHECKS.values())


# -- a check the package does not have, added to the table -------------------------------


class Always(RuleBase):
    check: Literal["always"]
    note: str = "always"


def _always(rule: Always, v: ItemView, ctx: CheckContext) -> Verdict | None:
    return Verdict(f"{rule.note}: {v.item.location.display}", {"now": ctx.now.year})


def _crowded(rule: Always, s: StoreView, ctx: CheckContext) -> Verdict | None:
    return Verdict(f"{len(s.members)} in {s.store.id}") if len(s.members) > 1 else None


def _loaded(rule: RuleBase) -> LoadedRule:
    return LoadedRule(rule, "t", "t.yaml", 3, Severity.HIGH, True, ())


def _always_rule(**changes: object) -> Always:
    fields = {"id": "T-ALWAYS", "check": "always", "severity": "high", "title": "always"}
    fields |= {"citations": ["test"], "remediation": "none"} | changes
    return Always.model_validate(fields)


def test_a_new_item_check_needs_no_change_to_the_evaluator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evaluate_module, "CHECKS", {**CHECKS, "always": ItemCheck(Always, _always)})
    rule = _loaded(_always_rule(note="seen"))
    found = evaluate((item(),), policy(rule, ()), Facts(), NOW)
    assert [(f.rule_id, f.message) for f in found] == [("T-ALWAYS", "seen: org/hr/badges/E100.jpg")]
    assert dict(found[0].facts) == {"now": NOW.year}
    # what every rule shares is still judged by the evaluator: here, its kinds
    other_kind = _loaded(_always_rule(kinds=["face_embedding"]))
    assert evaluate((item(),), policy(other_kind, ()), Facts(), NOW) == ()


def test_a_new_store_check_needs_no_change_to_the_evaluator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        evaluate_module, "CHECKS", {**CHECKS, "always": StoreCheck(Always, _crowded)}
    )
    rule = _loaded(_always_rule())
    one, two = item("org/hr/badges/E1.jpg"), item("org/hr/badges/E2.jpg")
    st = store(rule)
    assert evaluate((one,), policy(rule, (st,)), Facts(), NOW) == ()
    found = evaluate((two, one), policy(rule, (st,)), Facts(), NOW)
    assert [(f.message, f.location.display) for f in found] == [
        ("2 in hr-badges", "org/hr/badges/E1.jpg")  # located at the store's first item
    ]
    assert dict(found[0].facts) == {"store": "hr-badges", "items": 2}
