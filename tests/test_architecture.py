"""The shape of the code: the layers of docs/extending.md are the ones lint-imports checks,
and no module of scanner/ takes part in an import cycle (a lazy import inside a function
counts; an import only for type checking does not)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grimp

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_in_an_import_cycle() -> None:
    graph = grimp.build_graph("scanner", exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    # A package's __init__ that re-exports its modules is not a cycle of the design.
    edges = {m: {d for d in ds if not m.startswith(d + ".")} for m, ds in edges.items()}
    cycles = _cycles(edges)
    detail = [
        f"{a} -> {b} (line {d['line_number']}: {d['line_contents']})"
        for cycle in cycles
        for a in cycle
        for b in cycle
        for d in graph.get_import_details(importer=a, imported=b)
    ]
    assert cycles == [], "\n".join(detail)


def test_the_documented_layers_are_the_checked_ones() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    checked = [sorted(p.strip() for p in layer.split("|")) for layer in contract["layers"]]
    text = (ROOT / "docs" / "extending.md").read_text()
    table = text[text.index("| layer | packages |") :].split("\n\n", 1)[0]
    documented = [sorted(re.findall(r"`(scanner[\w.]*)`", row)) for row in table.splitlines()[2:]]
    assert documented == checked


def test_every_module_is_in_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    layered = {p.strip() for layer in contract["layers"] for p in layer.split("|")}
    tops = {
        f"scanner.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "scanner").iterdir()
        if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert tops - layered == set(), "put every new module of scanner/ in a layer"
