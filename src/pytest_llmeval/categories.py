"""The names of the strict-JSON failure categories, in the taxonomy's order.

The taxonomy is described in docs/json-checks.md ("The taxonomy"). A module of its own so
that the report can name them without loading the parser and jsonschema.
"""

from __future__ import annotations

from typing import Final

NO_TOOL_CALL: Final = "no_tool_call"
UNKNOWN_TOOL: Final = "unknown_tool"
EMPTY_OUTPUT: Final = "empty_output"
NO_JSON_START: Final = "no_json_start"
UNTERMINATED_JSON: Final = "unterminated_json"
MALFORMED_JSON: Final = "malformed_json"
FENCED_JSON: Final = "fenced_json"
MULTIPLE_JSON: Final = "multiple_json"
LEADING_TEXT: Final = "leading_text"
TRAILING_TEXT: Final = "trailing_text"
MISSING_FIELD: Final = "missing_field"
TYPE_MISMATCH: Final = "type_mismatch"
UNEXPECTED_FIELD: Final = "unexpected_field"
ENUM_VIOLATION: Final = "enum_violation"
RANGE_VIOLATION: Final = "range_violation"
LENGTH_VIOLATION: Final = "length_violation"
FORMAT_VIOLATION: Final = "format_violation"
SCHEMA_VIOLATION: Final = "schema_violation"
VALID: Final = "valid"

#: The 19 categories in the order of the taxonomy table: the first rule that matches wins.
#: The first two are tool calls' (`llm_json.tool_call`); `parse_json` gives the other 17.
CATEGORIES: Final[tuple[str, ...]] = (
    NO_TOOL_CALL,
    UNKNOWN_TOOL,
    EMPTY_OUTPUT,
    NO_JSON_START,
    UNTERMINATED_JSON,
    MALFORMED_JSON,
    FENCED_JSON,
    MULTIPLE_JSON,
    LEADING_TEXT,
    TRAILING_TEXT,
    MISSING_FIELD,
    TYPE_MISMATCH,
    UNEXPECTED_FIELD,
    ENUM_VIOLATION,
    RANGE_VIOLATION,
    LENGTH_VIOLATION,
    FORMAT_VIOLATION,
    SCHEMA_VIOLATION,
    VALID,
)

#: The categories only a tool call gets (`llm_json.tool_call`), never `parse_json`.
TOOL_CALL_CATEGORIES: Final[tuple[str, ...]] = (NO_TOOL_CALL, UNKNOWN_TOOL)
