"""Fitting terminal lines to a width: long lines wrapped, tables too wide laid out row by row."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

# tabulate's "simple" format: a header line, then a rule of dashes under each column.
_RULE = re.compile(r"^-+(?: +-+)*$")
_BULLET = re.compile(r"^( *(?:- )?)")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain-text table as tabulate's "simple" format draws it, each column only as wide
    as its widest cell or header (two spaces apart), so more of it fits a narrow terminal."""
    widths = [len(header) for header in headers]
    for row in rows:
        for number, cell in enumerate(row[: len(widths)]):
            widths[number] = max(widths[number], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False))

    rule = "  ".join("-" * width for width in widths)
    return [line(headers).rstrip(), rule, *(line(row).rstrip() for row in rows)]


def fits(lines: Sequence[str], width: int) -> bool:
    """True when no line is longer than `width`."""
    return all(len(line) <= width for line in lines)


def fit_lines(lines: Sequence[str], width: int) -> list[str]:
    """`lines` with none longer than `width`: a "simple" table too wide is shown one row a
    block (`stacked`), any other long line wrapped under its own indent."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if index + 1 < len(lines) and _RULE.match(lines[index + 1]):
            end = index + 2
            while end < len(lines) and lines[end].strip():
                end += 1
            table = list(lines[index:end])
            if fits(table, width):
                out += table
            else:
                headers, rows = _cells(table)
                out += stacked(headers, rows, width)
            index = end
            continue
        out += wrap(line, width)
        index += 1
    return out


def wrap(line: str, width: int) -> list[str]:
    """One line as lines of at most `width`, each continuation two spaces in from the line's
    own indent (a `  - ` bullet's under its first word)."""
    if len(line) <= width:
        return [line]
    lead = _BULLET.match(line)
    start = lead.group(1) if lead else ""
    indent = " " * (len(start) if start.endswith("- ") else len(start) + 2)
    return textwrap.wrap(
        line,
        width=width,
        subsequent_indent=indent[: width // 2],
        break_on_hyphens=False,
    ) or [""]


def stacked(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """A table as one block per row: its first cell, then `header value` pairs, wrapped."""
    out: list[str] = []
    for row in rows:
        first, rest = (row[0] if row else ""), row[1:]
        pairs = [
            f"{header} {value}" for header, value in zip(headers[1:], rest, strict=False) if value
        ]
        out += wrap(f"{first}: {', '.join(pairs)}" if pairs else first, width)
    return out


def _cells(table: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a "simple" table, cut at the columns its rule marks."""
    spans = [match.span() for match in re.finditer(r"-+", table[1])]

    def cut(line: str) -> list[str]:
        cells = []
        for number, (start, _end) in enumerate(spans):
            stop = spans[number + 1][0] if number + 1 < len(spans) else len(line)
            cells.append(line[start:stop].strip())
        return cells

    return cut(table[0]), [cut(line) for line in table[2:]]
