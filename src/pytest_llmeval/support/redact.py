"""Hiding secrets (the API key) in text, bytes and log records before they are shown or written."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

MIN_SECRET_LENGTH = 8
"""Shorter strings are not treated as secrets: they would match ordinary text."""

FRAGMENT_LENGTH = 10
"""A piece of a secret this long or longer is hidden too: output wrapped across lines (pytest's
`-l`, a narrow terminal) splits a key into pieces that each still give most of it away."""

MASK = "***"

LOGGERS = ("mistralai", "mistralai.client", "httpx2", "httpcore2")
"""The loggers that can see the API key (the SDK logs request headers with `MISTRAL_DEBUG=1`).
A filter on a logger applies only to records logged on that very logger, so their known
children are named too (`LogRedactor` also covers those that exist when it is installed)."""
_CHILD_LOGGERS = (
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (at least 8 characters) and every piece of one at least 10
    characters long replaced by `***`."""
    for secret in sorted(usable_secrets(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
        if len(secret) > FRAGMENT_LENGTH:
            text = _mask_fragments(text, secret)
    return text


def contains_secret(text: str, secrets: Iterable[str]) -> bool:
    """True when `text` holds a secret or a piece of one that `redact` would hide."""
    return redact(text, secrets) != text


def redact_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    """`data` with every secret and every 10-character piece of one replaced by `***`.

    Bytes that are not UTF-8 are searched as Latin-1, which maps every byte to one
    character: the secret's ASCII bytes are found either way and other bytes stay as they are.
    """
    wanted = list(usable_secrets(secrets))
    if not wanted:
        return data
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    hidden = redact(text, wanted)
    return data if hidden == text else hidden.encode(encoding, "replace")


def usable_secrets(secrets: Iterable[str]) -> Iterator[str]:
    """The secrets long enough to be looked for."""
    return (secret for secret in secrets if secret and len(secret) >= MIN_SECRET_LENGTH)


def _mask_fragments(text: str, secret: str) -> str:
    """Masks each stretch of `text` covered by pieces of `secret` of `FRAGMENT_LENGTH` chars."""
    pieces = {secret[start : start + FRAGMENT_LENGTH] for start in range(len(secret) - 9)}
    covered = bytearray(len(text))
    found = False
    for piece in pieces:
        start = text.find(piece)
        while start != -1:
            covered[start : start + FRAGMENT_LENGTH] = b"\1" * FRAGMENT_LENGTH
            found = True
            start = text.find(piece, start + 1)
    if not found:
        return text
    parts: list[str] = []
    index = 0
    while index < len(text):
        if covered[index]:
            while index < len(text) and covered[index]:
                index += 1
            parts.append(MASK)
        else:
            parts.append(text[index])
            index += 1
    return "".join(parts)


class LogRedactor(logging.Filter):
    """Rewrites log records of the SDK's and httpx2's loggers with the secrets hidden.

    `install` adds it to those loggers (and their children that exist by then), `remove`
    takes it off again, so a session leaves logging as it found it.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(usable_secrets(secrets))
        self._loggers: list[logging.Logger] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = redact(message, self.secrets)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and record.exc_text is None:
            shown = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(shown, self.secrets)
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True

    def install(self) -> None:
        names = {*LOGGERS, *_CHILD_LOGGERS}
        names.update(
            name
            for name in list(logging.Logger.manager.loggerDict)
            if name.split(".", 1)[0] in {"mistralai", "httpx2", "httpcore2"}
        )
        for name in sorted(names):
            logger = logging.getLogger(name)
            logger.addFilter(self)
            self._loggers.append(logger)

    def remove(self) -> None:
        for logger in self._loggers:
            logger.removeFilter(self)
        self._loggers.clear()


class Scrubber:
    """One run's secrets (the API key, the store's signing key), hidden in text and in what
    pytest shows of a test.

    Built at start-up from the environment, for every session: a plain test can print the
    key as well as an eval case can.
    """

    def __init__(self, secret: str | None, *, also: Iterable[str | None] = ()) -> None:
        self.api_key = secret or None
        # `also`: other secrets of the run, hidden the same way (the store's signing key).
        self.secrets = tuple(key for key in (secret, *also) if key)

    def text(self, text: str) -> str:
        return redact(text, self.secrets) if self.secrets else text

    def report(self, report: Any) -> None:
        """Hides the secret in a test report's failure text and captured sections, if there."""
        if not self.secrets:
            return
        if report.longrepr is not None and contains_secret(str(report.longrepr), self.secrets):
            report.longrepr = self.text(str(report.longrepr))
        report.sections = [(title, self.text(text)) for title, text in report.sections]
