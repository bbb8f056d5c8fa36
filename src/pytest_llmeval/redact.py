"""Hiding secrets (the API key) in text before it is shown or written."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

MIN_SECRET_LENGTH = 8
"""Shorter strings are not treated as secrets: they would match ordinary text."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (non-empty, at least 8 characters) replaced by `***`."""
    for secret in sorted(usable_secrets(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def usable_secrets(secrets: Iterable[str]) -> Iterator[str]:
    """The secrets long enough to be looked for."""
    return (secret for secret in secrets if secret and len(secret) >= MIN_SECRET_LENGTH)
