"""docs/reference.md's options table against the option definitions, read when the test runs:
every option has its row (flag, ini key, env, default), and no row names an option that is not."""

from __future__ import annotations

import re

import pytest

from pytest_llmeval.session.options import OPTIONS, Option
from tests.unit.test_docs_markdown import DOCS, ROOT, code_spans, documentation_files, table_after

REFERENCE = DOCS / "reference.md"
COLUMNS = ["option", "ini key", "env", "default", "meaning"]
NO_VALUE = "–"


def option_rows() -> dict[str, list[str]]:
    """The options table's rows by the flag they document."""
    header, *rows = table_after(REFERENCE, "## Options")
    assert header == COLUMNS, f"the options table's columns are {header}, not {COLUMNS}"
    by_flag: dict[str, list[str]] = {}
    for row in rows:
        assert len(row) == len(COLUMNS), f"options table row with {len(row)} cells: {row}"
        spans = code_spans(row[0])
        assert len(spans) == 1, f"the option cell {row[0]!r} holds one `--flag=METAVAR`"
        flag = spans[0].split("=")[0]
        assert flag not in by_flag, f"{flag} has two rows in the options table"
        by_flag[flag] = row
    return by_flag


def expected_cells(option: Option) -> tuple[str, str, str]:
    """The option, ini key and env cells the row of `option` must have."""
    shown = option.flag if option.is_flag else f"{option.flag}={option.metavar}"
    env = f"`{option.env}`" if option.env else NO_VALUE
    ini = NO_VALUE if option.command_line_only else f"`{option.ini}`"
    return f"`{shown}`", ini, env


def default_is_documented(option: Option, cell: str) -> bool:
    if option.is_flag:
        return cell == "`off`"
    if option.default is None:
        return cell == NO_VALUE or cell.startswith(f"{NO_VALUE} (")
    return cell == f"`{option.default}`"


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.flag)
def test_every_option_has_a_row_with_its_flag_ini_key_env_and_default(option: Option) -> None:
    rows = option_rows()
    assert option.flag in rows, f"docs/reference.md's options table has no row for {option.flag}"
    row = rows[option.flag]
    assert tuple(row[:3]) == expected_cells(option), (
        f"{option.flag}: the row reads {row[:3]}, the option is {expected_cells(option)}"
    )
    assert default_is_documented(option, row[3]), (
        f"{option.flag}: the default cell {row[3]!r} does not match the option's default "
        f"{option.default!r} (`VALUE`, `off` for a switch, or '– (what happens without it)')"
    )
    assert row[4], f"{option.flag}: the row says nothing about what the option means"


def test_no_row_documents_an_option_that_does_not_exist() -> None:
    flags = {option.flag for option in OPTIONS}
    unknown = sorted(set(option_rows()) - flags)
    assert not unknown, f"docs/reference.md documents options that do not exist: {unknown}"


def test_the_default_check_tells_a_wrong_default_from_a_right_one() -> None:
    concurrency = next(option for option in OPTIONS if option.default == "8")
    assert default_is_documented(concurrency, "`8`")
    assert not default_is_documented(concurrency, "`4`")
    assert not default_is_documented(concurrency, NO_VALUE)


def test_every_option_the_docs_mention_exists() -> None:
    flags = {option.flag for option in OPTIONS}
    unknown = {
        f"{path.relative_to(ROOT)}: {flag}"
        for path in documentation_files()
        for flag in re.findall(r"--llm-[a-z]+(?:-[a-z]+)*", path.read_text(encoding="utf-8"))
        if flag not in flags
    }
    assert not unknown, f"the docs mention options that do not exist: {sorted(unknown)}"
