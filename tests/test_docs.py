"""The documentation (README.md and docs/) against the code, the idea of sqlite-utils'
tests/test_docs.py and of its `cog --check`:

- every command, option, reason code, evidence kind and report format is documented in the
  hand-written text (the generated tables alone do not count), and every command and option
  appears in an example;
- every generated block is what tools/docs.py produces from the code now (`make docs`), and
  every command has its options block;
- every relative link and `#anchor` resolves;
- the README stays short and keeps its two commands;
- every command and option has help text.

Typer vendors its own copy of click, so parameters are told apart by `param_type_name`
rather than by click's classes.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scanner.cli import root_command
from scanner.model import EvidenceKind, ProblemReason
from scanner.reporters import Format
from scanner.reporters.subject_formats import SubjectFormat

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
TOOL = ROOT / "tools" / "docs.py"
README_MAX_LINES = 300
# Documents whose links must resolve: the manual, and the policy language it links into.
LINKED = [README, *sorted(DOCS.glob("*.md")), ROOT / "policies" / "README.md"]

ROOT_COMMAND: Any = root_command()


def _walk(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every command, sub-commands named in full (`policy validate`)."""
    out: dict[str, Any] = {}
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        out[full] = command
        if hasattr(command, "commands"):
            out.update(_walk(command, full + " "))
    return out


COMMANDS: dict[str, Any] = _walk(ROOT_COMMAND)
GROUPS = {name for name, command in COMMANDS.items() if hasattr(command, "commands")}
# Commands that run, and the root (`faceaudit --version`): each has an options block.
LEAVES = sorted({"faceaudit", *(set(COMMANDS) - GROUPS)})


def _is_option(param: Any) -> bool:
    return bool(param.param_type_name == "option")


def _spellings(param: Any) -> tuple[str, ...]:
    return (*param.opts, *param.secondary_opts)


def _options(command: Any) -> list[str]:
    """The long spellings (`--name`) of a command's options; `--help` is click's own."""
    return [
        opt
        for param in command.params
        if _is_option(param)
        for opt in _spellings(param)
        if opt.startswith("--")
    ]


def _command(name: str) -> Any:
    return ROOT_COMMAND if name == "faceaudit" else COMMANDS[name]


OPTIONS = sorted(
    {(name, opt) for name, command in COMMANDS.items() for opt in _options(command)}
    | {("faceaudit", opt) for opt in _options(ROOT_COMMAND)}
)


@cache
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("faceaudit_docs_tool", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def documents() -> list[Path]:
    if not README.is_file() or not DOCS.is_dir():
        pytest.fail("README.md and docs/ must exist: every command and option is documented there")
    return [README, *sorted(DOCS.rglob("*.md"))]


@cache
def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def handwritten() -> str:
    """README.md and docs/ without the bodies of their generated blocks."""
    return "\n".join(tool().BLOCK.sub(r"\g<open>\g<close>", text(p)) for p in documents())


# -- commands and options ----------------------------------------------------------------------


def test_the_app_has_the_expected_commands() -> None:
    assert {"scan", "detectors", "demo", "policy validate", "policy explain"} <= set(COMMANDS)
    assert {"watch", "history", "subject find", "triage"} <= set(COMMANDS)
    assert OPTIONS  # the introspection found the options at all
    assert ("scan", "--fail-on") in OPTIONS
    assert ("faceaudit", "--version") in OPTIONS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_is_documented(name: str) -> None:
    assert re.search(rf"faceaudit {re.escape(name)}\b", handwritten()), (
        f"`faceaudit {name}` is not mentioned in README.md or docs/ (outside generated tables)"
    )


@pytest.mark.parametrize(("command", "option"), OPTIONS)
def test_option_is_documented(command: str, option: str) -> None:
    assert re.search(rf"{re.escape(option)}(?![\w-])", handwritten()), (
        f"{option} (of `{command}`) is not mentioned in README.md or docs/ "
        "(outside generated tables)"
    )


@pytest.mark.parametrize("reason", [r.value for r in ProblemReason])
def test_reason_code_is_documented(reason: str) -> None:
    assert re.search(rf"`{reason}`", handwritten()), (
        f"the reason code {reason} is not explained in README.md or docs/ (docs/safety.md)"
    )


@pytest.mark.parametrize(
    "value",
    sorted(
        {k.value for k in EvidenceKind}
        | {f.value for f in Format}
        | {f.value for f in SubjectFormat}
    ),
)
def test_kinds_and_formats_are_documented(value: str) -> None:
    assert f"`{value}`" in handwritten(), f"`{value}` is not documented in README.md or docs/"


# -- examples ----------------------------------------------------------------------------------

FACEAUDIT_CALL = re.compile(r"(?:^|[\s/=])faceaudit[ \t]+(?P<rest>\S.*)$")


def _code_lines() -> Iterator[str]:
    """The lines of every fenced code block, continuation lines (`\\`) joined."""
    for path in documents():
        for m in tool().FENCE.finditer(text(path)):
            body = m.group(0).split("\n")[1:-1]
            yield from re.sub(r"\\\n\s*", " ", "\n".join(body)).split("\n")


def _tokens(rest: str) -> list[str]:
    lexer = shlex.shlex(rest, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:
        return rest.split()


@cache
def examples() -> dict[str, set[str]]:
    """Command -> the option spellings its examples use (`faceaudit scan … --quiet`)."""
    out: dict[str, set[str]] = {}
    for line in _code_lines():
        m = FACEAUDIT_CALL.search(line)
        if m is None:
            continue
        tokens = _tokens(m.group("rest"))
        if not tokens:
            continue
        if tokens[0].startswith("-"):
            name, args = "faceaudit", tokens
        elif " ".join(tokens[:2]) in COMMANDS:
            name, args = " ".join(tokens[:2]), tokens[2:]
        elif tokens[0] in COMMANDS:
            name, args = tokens[0], tokens[1:]
        else:
            continue
        used = out.setdefault(name, set())
        used.update(a.split("=", 1)[0] for a in args if a.startswith("-"))
        if " " in name:
            out.setdefault(name.split(" ")[0], set())  # the group is shown by its commands
    return out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_an_example(name: str) -> None:
    assert name in examples(), f"no example runs `faceaudit {name}` (in a code block)"


@pytest.mark.parametrize(("command", "option"), OPTIONS)
def test_option_has_an_example(command: str, option: str) -> None:
    param = next(p for p in _command(command).params if option in _spellings(p))
    assert set(_spellings(param)) & examples().get(command, set()), (
        f"no example of `faceaudit {command}` uses {option} (in a code block of README or docs/)"
    )


def test_examples_are_found() -> None:
    """The example finder itself: continuation lines, comments, quotes, sub-commands."""
    found = examples()
    assert {"--exec", "--policy", "-o"} <= found["watch"]  # a `\`-continued example
    assert "--probe" in found["subject find"]
    assert "--version" in found["faceaudit"]
    assert not any(o.startswith("-") and " " in o for opts in found.values() for o in opts)


# -- generated blocks --------------------------------------------------------------------------


def test_generated_blocks_match_the_code() -> None:
    stale = tool().stale(documents())
    assert not stale, "generated blocks out of date (run `make docs`): " + ", ".join(
        f"{b.path.relative_to(ROOT)}:{b.line} `{b.name}`" for b, _ in stale
    )


@cache
def block_names() -> list[str]:
    return [b.name for path in documents() for b in tool().blocks(path)]


@pytest.mark.parametrize("name", LEAVES)
def test_every_command_has_its_options_block(name: str) -> None:
    assert f"options {name}" in block_names(), (
        f"no `<!-- generated: options {name} -->` block in README.md or docs/"
    )


def test_the_detector_list_and_reason_codes_are_generated() -> None:
    assert "detectors" in block_names()
    assert "reasons" in block_names()


def test_no_block_names_something_unknown() -> None:
    for name in block_names():
        tool().render(name)  # raises KeyError for an unknown command or block kind


@pytest.mark.parametrize("name", LEAVES)
def test_the_options_table_is_the_commands_own(name: str) -> None:
    """One row per parameter, with its spellings and its help (as `--help` shows them)."""
    body = tool().render(f"options {name}")
    params = [p for p in _command(name).params if not getattr(p, "hidden", False)]
    if not params:
        assert body == "No options besides `--help`.\n"
        return
    rows = body.splitlines()[2:]
    assert len(rows) == len(params)
    for row, param in zip(rows, params, strict=True):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        if _is_option(param):
            assert set(re.findall(r"`([^`]+)`", cells[0])) == set(_spellings(param))
        assert " ".join((param.help or "").split()) == cells[3].replace("\\|", "|")
        assert cells[2] == "required" if param.required else cells[2] != "required"


def test_the_generator_keeps_prose_and_skips_code(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    example = "```markdown\n<!-- generated: reasons -->\nnot a block\n<!-- end generated -->\n```"
    doc.write_text(
        f"Prose before.\n<!-- generated: reasons -->\nstale\n<!-- end generated -->\n"
        f"Prose after.\n{example}\n",
        encoding="utf-8",
    )
    assert [b.name for b in tool().blocks(doc)] == ["reasons"]
    assert len(tool().stale([doc])) == 1
    assert tool().write([doc]) == [doc]
    new = doc.read_text(encoding="utf-8")
    assert new.startswith("Prose before.\n<!-- generated: reasons -->\n| reason |")
    assert "`state_not_saved` | yes |\n<!-- end generated -->\nProse after.\n" in new
    assert new.endswith(example + "\n")  # the example is untouched
    assert tool().stale([doc]) == []
    assert tool().write([doc]) == []


@pytest.mark.parametrize(
    "bad",
    [
        "<!-- generated: reasons -->\nno end\n",
        "<!-- generated: reasons -->\n<!-- generated: detectors -->\n<!-- end generated -->\n",
        "<!-- end generated -->\n",
    ],
)
def test_unbalanced_markers_are_refused(tmp_path: Path, bad: str) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(bad, encoding="utf-8")
    with pytest.raises(ValueError, match="generated block"):
        list(tool().blocks(doc))


def test_an_unknown_block_is_refused() -> None:
    with pytest.raises(KeyError):
        tool().render("options no-such-command")
    with pytest.raises(KeyError):
        tool().render("nonsense")


# -- links and anchors -------------------------------------------------------------------------

LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(?P<title>.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"(?P<id>[^\"]+)\"")


def slug(title: str) -> str:
    """The anchor GitHub makes of a heading: its text (links and code unwrapped), lower case,
    punctuation other than `-` and `_` dropped, spaces made hyphens."""
    title = LINK.sub(r"\g<text>", title)
    title = re.sub(r"<[^>]+>", "", title).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    body = tool().without_code(text(path))
    seen: dict[str, int] = {}
    out = set(HTML_ANCHOR.findall(body))
    for m in HEADING.finditer(body):
        base = slug(m.group("title"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def links(path: Path) -> list[tuple[int, str]]:
    body = tool().without_code(text(path))
    body = re.sub(r"`[^`\n]*`", lambda m: " " * len(m.group(0)), body)  # code spans
    return [(body.count("\n", 0, m.start()) + 1, m.group("target")) for m in LINK.finditer(body)]


@pytest.mark.parametrize("path", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_anchors_resolve(path: Path) -> None:
    broken = []
    for line, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{line}: {target}"
        if not dest.is_relative_to(ROOT):
            broken.append(f"{where} (outside the repository)")
        elif not dest.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{where} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_checker_sees_anchors() -> None:
    assert slug("`faceaudit subject find --probe PHOTO TARGET…`") == (
        "faceaudit-subject-find---probe-photo-target"
    )
    assert slug("Safety: read-only, bounded, inert") == "safety-read-only-bounded-inert"
    assert slug("Cost, and the state") == "cost-and-the-state"
    assert "a-select-only-role" in anchors(DOCS / "databases.md")
    assert any(t == "docs/databases.md#a-select-only-role" for _, t in links(README))


# -- the README ------------------------------------------------------------------------------------


def test_readme_is_short_and_keeps_its_two_commands() -> None:
    lines = text(README).splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    )
    assert "make demo" in text(README)
    assert "make test" in text(README)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


def test_readme_links_into_every_page_of_the_manual() -> None:
    linked = {t.partition("#")[0] for _, t in links(README)}
    for page in sorted(DOCS.glob("*.md")):
        assert f"docs/{page.name}" in linked, f"README.md does not link to docs/{page.name}"


# -- help text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help(name: str) -> None:
    command = COMMANDS[name]
    assert (command.help or "").strip(), f"`faceaudit {name}` has no help text"
    assert (command.get_short_help_str() or "").strip()
    for param in command.params:
        if _is_option(param):
            assert (param.help or "").strip(), f"{param.opts} of `{name}` has no help text"


def test_root_has_help() -> None:
    assert (ROOT_COMMAND.help or "").strip()
    assert "Exit codes" in (ROOT_COMMAND.help or "")


def test_root_help_says_what_the_tool_does_now() -> None:
    """The top-level help names each thing the tool does (no "as the project grows")."""
    text = " ".join((ROOT_COMMAND.help or "").split())
    assert "as the project grows" not in text
    for what in ("face templates", "databases", "policies", "waivers and baselines",
                 "what falls due next", "watch folders", "one person's face", "triage",
                 "never modifies", "remediate"):  # fmt: skip
        assert what in text, what


INSTALLS = [README, *sorted(DOCS.glob("*.md")), ROOT / ".pre-commit-hooks.yaml"]


@pytest.mark.parametrize("path", INSTALLS, ids=lambda p: p.name)
def test_faceaudit_is_never_installed_from_the_package_index(path: Path) -> None:
    """faceaudit is not on PyPI: every `pip install faceaudit…` names the repository or a
    wheel file, never the bare package name."""
    for line in path.read_text(encoding="utf-8").splitlines():
        for m in re.finditer(r"pip install\s+(?P<what>\S+(?:\s+@\s+\S+)?)", line):
            what = m.group("what").strip("'\"")
            if what.startswith("faceaudit") or what.startswith("'faceaudit"):
                assert "git+https://" in line or ".whl" in line, f"{path.name}: {line}"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("path", INSTALLS, ids=lambda p: p.name)
def test_pre_commit_revs_exist(path: Path) -> None:
    """Each `rev:` of a pre-commit example is a tag of the repository or a full commit sha
    in its history."""
    if _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout")
    tags = set(_git("tag").stdout.split())
    text = path.read_text(encoding="utf-8")
    for rev in re.findall(r"^[#\s]*rev:\s*(\S+)", text, re.MULTILINE):
        if rev in tags:
            continue
        assert re.fullmatch(r"[0-9a-f]{40}", rev), f"{path.name}: rev {rev} is not a tag or sha"
        assert _git("cat-file", "-e", f"{rev}^{{commit}}").returncode == 0, rev
