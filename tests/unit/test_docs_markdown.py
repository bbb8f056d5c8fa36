"""Reading the documentation's Markdown: fenced blocks, opt-outs and tables, for the docs tests.

The docs tests (tests/unit/test_docs_*.py and tests/plugin/test_docs.py) import these readers;
the tests below hold them to the Markdown the docs are written in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_OPT_OUT = re.compile(r"^\s*<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->\s*$")


@dataclass(frozen=True)
class FencedBlock:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # 1-based line of the opening fence
    info: str  # the language named after the fence, "" when none
    body: str  # the lines between the fences, without the fence's indentation
    opt_out: str | None  # the reason of a `<!-- not run: reason -->` right above it
    above: str  # the nearest non-blank line above the block (or its opt-out comment)
    below: str  # the nearest non-blank line after the closing fence

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documentation_files() -> list[Path]:
    """Every Markdown file a user reads: docs/*.md and the README."""
    return [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


def fenced_blocks(path: Path) -> list[FencedBlock]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[FencedBlock] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = "".join(_dedent(line, indent) + "\n" for line in lines[index + 1 : end])
        above_at = _line_above(lines, index)
        opt_out = _OPT_OUT.match(lines[above_at]) if above_at >= 0 else None
        if opt_out is not None:
            above_at = _line_above(lines, above_at)
        above = lines[above_at] if above_at >= 0 else ""
        blocks.append(
            FencedBlock(
                path=path,
                line=index + 1,
                info=opening["info"].lower(),
                body=body,
                opt_out=opt_out["reason"] if opt_out else None,
                above=above.strip(),
                below=next((line.strip() for line in lines[end + 1 :] if line.strip()), ""),
            )
        )
        index = end + 1
    return blocks


def prose(path: Path) -> str:
    """The text of `path` with every fenced block (fences included) left out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for block in fenced_blocks(path):
        end = block.line + block.body.count("\n")  # the closing fence's index
        for index in range(block.line - 1, min(end + 1, len(lines))):
            lines[index] = ""
    return "\n".join(lines)


def _dedent(line: str, indent: int) -> str:
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, indent) :]


def _line_above(lines: list[str], index: int) -> int:
    """The index of the nearest non-blank line above `index`, -1 when there is none."""
    for above in range(index - 1, -1, -1):
        if lines[above].strip():
            return above
    return -1


def table_after(path: Path, heading: str) -> list[list[str]]:
    """The rows (header first, the delimiter row left out) of the first table under `heading`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("#") and rows == []:
            raise AssertionError(f"no table under {heading!r} in {path}")
        if line.lstrip().startswith("|"):
            cells = table_cells(line)
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def table_cells(line: str) -> list[str]:
    """The cells of one table row; `\\|` is a pipe inside a cell, as GitHub reads it."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def code_spans(text: str) -> list[str]:
    """The code spans of a line, as GitHub reads them: any run of backticks opens one, the next
    run of the same length closes it, and one space either side is padding."""
    spans = []
    for match in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", text):
        content = match[2]
        if len(content) > 2 and content[0] == content[-1] == " " and content.strip():
            content = content[1:-1]
        spans.append(content)
    return spans


# -- the readers' own tests -------------------------------------------------------------------

SAMPLE = """\
Intro.

```python
print("one")
```

<!-- not run: needs a GPU -->
```python
import torch
```

- a list item:

  ````text
  ```json
  {"a": 1}
  ```
  ````

| a | b |
|---|---|
| `x \\| y` | 2 |
"""


def test_blocks_are_read_with_their_language_line_and_opt_out(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(SAMPLE, encoding="utf-8")
    blocks = fenced_blocks(path)
    assert [(b.info, b.line, b.opt_out) for b in blocks] == [
        ("python", 3, None),
        ("python", 8, "needs a GPU"),
        ("text", 14, None),
    ]
    assert blocks[0].body == 'print("one")\n'
    assert blocks[1].above == "```"
    # A longer fence holds a shorter one, and a list item's indentation is not part of the body.
    assert blocks[2].body == '```json\n{"a": 1}\n```\n'
    assert blocks[2].above == "- a list item:"


def test_table_cells_keep_escaped_pipes(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text("# Head\n" + SAMPLE.split("````\n\n")[1], encoding="utf-8")
    assert table_after(path, "# Head") == [["a", "b"], ["`x | y`", "2"]]


def test_code_spans_read_longer_delimiters_and_padding() -> None:
    assert code_spans("`a` and ``` `` b ``` and `` `c` ``") == ["a", "`` b", "`c`"]


def test_every_documentation_file_has_balanced_fences() -> None:
    for path in documentation_files():
        text = path.read_text(encoding="utf-8")
        last = fenced_blocks(path)[-1:] if "```" in text else []
        for block in last:
            closing_line = block.line + block.body.count("\n") + 1
            assert closing_line <= len(text.splitlines()), f"{block.where}: the fence never closes"
