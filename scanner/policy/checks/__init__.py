"""The checks rules can name, one module each, in one table keyed by the check's name.

Adding a check: a module here with its rule model (a subclass of `RuleBase` whose `check` is
`Literal["<name>"]`) and its judge, wrapped in `ItemCheck` or `StoreCheck` as `CHECK`; then one
line below. The schema's union of rules and the evaluator's dispatch both come from this
table; the order is the order in which schema errors list the checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from scanner.policy.checks import (
    consent,
    executable_code,
    no_legal_basis,
    orphaned_pair,
    restricted_jurisdiction,
    retention_exceeded,
    scraped_provenance,
    store_field_missing,
    undeclared_store,
)
from scanner.policy.checks.base import Check

CHECKS: Mapping[str, Check] = MappingProxyType(
    {
        "undeclared_store": undeclared_store.CHECK,
        "retention_exceeded": retention_exceeded.CHECK,
        "no_legal_basis": no_legal_basis.CHECK,
        "consent": consent.CHECK,
        "scraped_provenance": scraped_provenance.CHECK,
        "restricted_jurisdiction": restricted_jurisdiction.CHECK,
        "store_field_missing": store_field_missing.CHECK,
        "orphaned_pair": orphaned_pair.CHECK,
        "executable_code": executable_code.CHECK,
    }
)
