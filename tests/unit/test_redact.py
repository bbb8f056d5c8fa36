"""Hiding the API key: whole, in pieces of 10 characters or more, in bytes and in log records."""

from __future__ import annotations

import logging

import pytest

from pytest_llmeval.replay.signing import generate_key_pair
from pytest_llmeval.support.redact import (
    LogRedactor,
    Scrubber,
    contains_secret,
    redact,
    redact_bytes,
)
from tests.conftest import CANARY_KEY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"Bearer {CANARY_KEY}.", "Bearer ***.", id="whole"),
        pytest.param(f"x {CANARY_KEY[:13]}\n{CANARY_KEY[13:]} y", "x ***\n*** y", id="wrapped"),
        pytest.param(f"head {CANARY_KEY[3:13]} tail", "head *** tail", id="ten-chars"),
        pytest.param(f"{CANARY_KEY[5:14]}", CANARY_KEY[5:14], id="nine-chars-stay"),
        pytest.param(f"{CANARY_KEY[:12]}{CANARY_KEY[:12]}", "***", id="adjacent-pieces"),
        pytest.param("nothing secret here", "nothing secret here", id="none"),
    ],
)
def test_redact_hides_the_key_and_every_long_piece_of_it(text: str, expected: str) -> None:
    assert redact(text, [CANARY_KEY]) == expected


def test_no_ten_character_piece_survives_redaction() -> None:
    pieces = [CANARY_KEY[start : start + 10] for start in range(len(CANARY_KEY) - 9)]
    text = " | ".join(pieces) + f" {CANARY_KEY}"
    hidden = redact(text, [CANARY_KEY])
    assert not any(piece in hidden for piece in pieces)
    assert contains_secret(text, [CANARY_KEY]) and not contains_secret(hidden, [CANARY_KEY])


def test_redact_bytes_keeps_other_bytes_as_they_are() -> None:
    data = b"\xff\xfe binary " + CANARY_KEY.encode() + b" \x00end"
    assert redact_bytes(data, [CANARY_KEY]) == b"\xff\xfe binary *** \x00end"
    assert redact_bytes(b"plain", [CANARY_KEY]) == b"plain"
    assert redact_bytes(b"x" + CANARY_KEY.encode(), []) == b"x" + CANARY_KEY.encode()


def test_the_log_redactor_hides_the_key_in_sdk_and_httpx2_records_until_removed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redactor = LogRedactor([CANARY_KEY])
    redactor.install()
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("mistralai.client").debug("Headers: Bearer %s", CANARY_KEY)
            logging.getLogger("httpcore2.http11").debug("send %s", CANARY_KEY[:12])
            try:
                raise ValueError(CANARY_KEY)
            except ValueError:
                logging.getLogger("httpx2").exception("failed")
        text = caplog.text
        assert "Headers: Bearer ***" in text and "send ***" in text
        assert CANARY_KEY[:10] not in text and CANARY_KEY[-10:] not in text
    finally:
        redactor.remove()
    assert redactor not in logging.getLogger("mistralai.client").filters


def test_the_scrubber_hides_the_store_signing_key_beside_the_api_key() -> None:
    signing_key, _ = generate_key_pair()
    scrubber = Scrubber(CANARY_KEY, also=[signing_key, None])
    assert scrubber.api_key == CANARY_KEY
    shown = scrubber.text(f"api {CANARY_KEY}, signing {signing_key}, half {signing_key[:20]}")
    assert shown == "api ***, signing ***, half ***"
    keyless = Scrubber(None, also=[signing_key])
    assert keyless.api_key is None  # the signing key is never taken for the API key
    assert keyless.text(signing_key) == "***"
