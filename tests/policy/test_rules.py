"""Every rule of every shipped pack fires on a failing situation and stays silent on a
passing one (built by rule_fixtures from the rule's own check and parameters)."""

from __future__ import annotations

import pytest
from rule_fixtures import NOW, situations

from scanner.policy.evaluate import evaluate
from scanner.policy.loader import LoadedRule, builtin_packs, load_policy


def _rules() -> list[LoadedRule]:
    seen: dict[str, LoadedRule] = {}
    for path in builtin_packs().values():
        policy = load_policy(path)
        for rule in policy.rules:
            if rule.pack == policy.name:  # as its pack defines it, before any override
                seen.setdefault(rule.id, rule)
    return list(seen.values())


RULES = _rules()


def test_the_packs_define_rules() -> None:
    assert len(RULES) >= 15


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_fails_and_passes(rule: LoadedRule) -> None:
    failing, passing = situations(rule)
    found = evaluate(failing.items, failing.policy, failing.facts, NOW)
    assert [f.rule_id for f in found] == [rule.id], found
    f = found[0]
    assert f.citations == tuple(rule.rule.citations) and f.remediation and f.message
    assert len(f.fingerprint) == 32
    assert evaluate(passing.items, passing.policy, passing.facts, NOW) == ()
