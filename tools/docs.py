"""The generated blocks of the documentation (`make docs`), the way sqlite-utils uses cog.

A generated block is a marked region of a Markdown file whose body is produced from the code:

    <!-- generated: options scan -->
    | option | value | default | what it does |
    ...
    <!-- end generated -->

The hand-written prose around the blocks is never touched. Block names:

- `options COMMAND` (`options faceaudit` for the root, `options policy validate` for a
  sub-command): the command's arguments and options, read from the typer app
  (`scanner.cli.app`): spellings, value type, default and help text;
- `detectors`: the detectors of `scanner.detectors.DETECTORS`, what they find and read, and
  which run by default (what `faceaudit detectors` lists);
- `reasons`: every problem reason code (`scanner.model.ProblemReason`) and whether it makes a
  scan incomplete.

    python tools/docs.py --write    # rewrite the blocks (make docs)
    python tools/docs.py --check    # exit 1, with a diff, when a block differs (make lint)

The blocks are generated from the code of the checkout this file is in, not from whatever
`scanner` the interpreter would find first. tests/test_docs.py runs the same check.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<name>[^>\n]+?) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- end generated -->)",
    re.DOTALL,
)
OPEN_OR_CLOSE = re.compile(r"<!-- (?:generated: [^>\n]*|end generated) -->")
FENCE = re.compile(
    r"^[ \t]*(?P<fence>```+|~~~+).*?^[ \t]*(?P=fence)[ \t]*$", re.DOTALL | re.MULTILINE
)


def without_code(text: str) -> str:
    """The text with fenced code blocks blanked out (same length, newlines kept): a marker or
    a link shown in an example is not one."""
    return FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def documents() -> list[Path]:
    """Every Markdown file that may hold generated blocks: README.md and docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


# -- the command line, read from the typer app ----------------------------------------------


def _import_scanner() -> None:
    """Make `scanner` the package of this checkout (a shared virtualenv may point elsewhere)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


@cache
def cli_commands() -> dict[str, Any]:
    """Every command of the app by its full name (`scan`, `policy validate`), and the root
    command as `faceaudit`. Typer vendors its own click, so nothing here names click's
    classes: commands are told apart by having `commands`, parameters by `param_type_name`."""
    _import_scanner()
    from scanner.cli import root_command

    root: Any = root_command()
    out: dict[str, Any] = {"faceaudit": root}

    def walk(group: Any, prefix: str) -> None:
        for name, command in group.commands.items():
            out[prefix + name] = command
            if hasattr(command, "commands"):
                walk(command, f"{prefix}{name} ")

    walk(root, "")
    return out


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", r"\|")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _value_type(param: Any, command: Any) -> str:
    """The value's type as `--help` shows it (`<int>`, `<path>`), `<str>` for a repeatable
    option rather than typer's `<list[str]>`; empty for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.metavar:
        return str(param.metavar)
    record = param.get_help_record(command.context_class(command))
    words = record[0].replace(",", " ").split() if record else []
    if param.param_type_name == "argument":
        words = words[1:]  # the argument's own name
    shown = " ".join(w for w in words if not w.startswith("-"))
    if shown.startswith("<"):  # typer's own rendering: `<int>`, `<list[Path]>`
        shown = re.sub(r"^<list\[(.*)\]>$", r"<\1>", shown).lower()
    return shown


def _default(param: Any) -> str:
    if isinstance(param.show_default, str):  # the command chose how to say it
        return param.show_default
    if param.required:
        return "required"
    value = param.default
    if getattr(param, "is_flag", False):
        return "on" if value else "off"
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Row:
    names: str
    value: str
    default: str
    help: str


def option_rows(command: Any) -> list[Row]:
    rows: list[Row] = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        help_text = _cell(getattr(param, "help", None) or "")
        value = _value_type(param, command)
        if getattr(param, "multiple", False) and value:
            value += " (repeatable)"
        if param.param_type_name == "argument":
            name = (param.name or "").upper()
            names = f"`{name}…`" if param.nargs != 1 else f"`{name}`"
        else:
            spellings = sorted((*param.opts, *param.secondary_opts), key=lambda o: (-len(o), o))
            names = ", ".join(f"`{o}`" for o in spellings)
        default = _default(param)
        rows.append(
            Row(
                names, _code(value), default if default == "required" else _code(default), help_text
            )
        )
    return rows


def render_options(name: str) -> str:
    commands = cli_commands()
    if name not in commands:
        raise KeyError(f"no command {name!r} (commands: {', '.join(sorted(commands))})")
    rows = option_rows(commands[name])
    if not rows:
        return "No options besides `--help`.\n"
    lines = ["| option | value | default | what it does |", "|---|---|---|---|"]
    lines += [f"| {r.names} | {r.value} | {r.default} | {r.help} |" for r in rows]
    return "\n".join(lines) + "\n"


# -- detectors and reason codes -------------------------------------------------------------


def render_detectors(_: str = "") -> str:
    _import_scanner()
    from scanner.detectors import DEFAULT_DETECTORS, DETECTORS

    lines = [
        "| id | finds | default | reads | what it looks for |",
        "|---|---|---|---|---|",
    ]
    for d in DETECTORS:
        reads = ", ".join(sorted(c.value for c in d.content_types))
        default = "yes" if d.id in DEFAULT_DETECTORS else "no"
        lines.append(
            f"| `{d.id}` | `{d.kind.value}` | {default} | {_cell(reads)} | {_cell(d.description)} |"
        )
    return "\n".join(lines) + "\n"


def render_reasons(_: str = "") -> str:
    _import_scanner()
    from scanner.model import ProblemReason

    lines = ["| reason | makes the scan incomplete (exit 3) |", "|---|---|"]
    lines += [f"| `{r.value}` | {'yes' if r.incomplete else 'no'} |" for r in ProblemReason]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[str], str]] = {
    "options": render_options,
    "detectors": render_detectors,
    "reasons": render_reasons,
}


def render(name: str) -> str:
    """The body of the block called `name` (`options scan`, `detectors`, `reasons`)."""
    kind, _, argument = name.strip().partition(" ")
    if kind not in RENDERERS:
        raise KeyError(f"unknown generated block {name!r} (kinds: {', '.join(RENDERERS)})")
    return RENDERERS[kind](argument.strip())


# -- reading and rewriting the documents ----------------------------------------------------


@dataclass(frozen=True)
class Block:
    path: Path
    name: str
    body: str
    line: int


def _spans(path: Path, text: str) -> list[re.Match[str]]:
    """The generated blocks' matches in the masked text. Unbalanced or nested markers are an
    error."""
    masked = without_code(text)
    found = list(BLOCK.finditer(masked))
    for m in found:
        if OPEN_OR_CLOSE.search(m.group("body")):
            raise ValueError(f"{_rel(path)}:{_line(text, m.start())}: unclosed generated block")
    if len(OPEN_OR_CLOSE.findall(masked)) != 2 * len(found):
        raise ValueError(f"{_rel(path)}: a generated block marker has no partner")
    return found


def blocks(path: Path, text: str | None = None) -> Iterator[Block]:
    """The generated blocks of one file, outside code examples."""
    text = path.read_text(encoding="utf-8") if text is None else text
    for m in _spans(path, text):
        body = text[m.start("body") : m.end("body")]
        yield Block(path, m.group("name").strip(), body, _line(text, m.start()))


def regenerate(text: str, path: Path = ROOT) -> str:
    """The text with every generated block's body replaced by what the code produces now."""
    out, last = [], 0
    for m in _spans(path, text):
        out += [text[last : m.start("body")], render(m.group("name"))]
        last = m.end("body")
    return "".join([*out, text[last:]])


def stale(paths: list[Path] | None = None) -> list[tuple[Block, str]]:
    """Every block whose body differs from what the code produces, with the expected body."""
    out = []
    for path in paths if paths is not None else documents():
        for block in blocks(path):
            expected = render(block.name)
            if block.body != expected:
                out.append((block, expected))
    return out


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def write(paths: list[Path] | None = None) -> list[Path]:
    changed = []
    for path in paths if paths is not None else documents():
        text = path.read_text(encoding="utf-8")
        new = regenerate(text, path)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def check(paths: list[Path] | None = None) -> int:
    found = stale(paths)
    for block, expected in found:
        where = f"{_rel(block.path)}:{block.line}"
        print(f"{where}: the generated block `{block.name}` differs from the code:")
        sys.stdout.writelines(
            difflib.unified_diff(
                block.body.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                f"{where} (in the file)",
                f"{where} (from the code)",
            )
        )
    if found:
        print(f"{len(found)} generated block(s) out of date: run `make docs`.")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    mode.add_argument("--check", action="store_true", help="fail when a block is out of date")
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: all)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.files] or None
    try:
        if args.write:
            for path in write(paths):
                print(f"updated {_rel(path)}")
            return 0
        return check(paths)
    except (KeyError, ValueError) as exc:
        print(f"docs: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
