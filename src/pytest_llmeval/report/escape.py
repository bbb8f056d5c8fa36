"""Untrusted text (model output, node ids, group names) made safe for a terminal or Markdown."""

from __future__ import annotations

import re

# Characters that could move the cursor, recolour the terminal, reorder text (bidi controls)
# or break a line in a table: model output is untrusted, so they are shown as escapes.
CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Characters that mean something inline in GitHub-flavoured Markdown (links, images, HTML,
# emphasis, code, table cells); each is shown literally after a backslash.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


def escape_control(match: re.Match[str]) -> str:
    char = match.group()
    named = NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(value: str | None) -> str:
    """Untrusted text for a terminal: control and bidi characters shown as escapes."""
    if not value:
        return ""
    return CONTROL.sub(escape_control, value)


def markdown_link(address: str) -> str:
    """An address as a Markdown link target: within angle brackets, none of its own."""
    return "<" + re.sub(r"[<>\s]", lambda match: f"%{ord(match.group()):02X}", address) + ">"


def markdown_code(value: str | None) -> str:
    """Untrusted text as a Markdown code span: literal, whatever backticks it holds."""
    text = CONTROL.sub(escape_control, value or "")
    runs = [len(run) for run in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def markdown_text(value: str | None) -> str:
    """Untrusted text for a Markdown table cell or list item: literal, on one line."""
    if not value:
        return ""
    return CONTROL.sub(escape_control, MARKDOWN_SPECIAL.sub(r"\\\1", value))
