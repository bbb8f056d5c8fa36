"""Signed recordings: Ed25519 keys as text, and signing and checking one recording.

A recording is signed over its request key (`StoreRequest.digest`), its sample index and
the sha256 of its `response` object as canonical JSON (`answer_digest`): moving a signed
answer to another request's file, to another sample, or changing one byte of its status,
content type or body breaks the signature. The `request` object needs no signature of its
own: the digest it is checked against is the one of the request being answered.

Keys are text: the standard base64 (with padding) of the raw 32-byte Ed25519 key, private
(`LLMEVAL_STORE_SIGNING_KEY`) or public (`llm_store_public_key`). The crypto is the
`cryptography` package's; it is imported when a key is first read, so a keyless session
never loads it. No error message here ever holds a private key, nor a piece of one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNING_KEY_ENV = "LLMEVAL_STORE_SIGNING_KEY"
"""The environment variable of the private key, set only where recordings are trusted."""

PUBLIC_KEY_INI = "llm_store_public_key"
"""The ini key of the public key every replayed recording is checked with."""

ALGORITHM = "ed25519"
# Domain separation: a signature made for a recording means nothing anywhere else.
_CONTEXT = b"pytest-llmeval recording v1\n"
_KEY_BYTES = 32


class SigningKeyError(ValueError):
    """A key that cannot be read; the message says what is wrong, never what the key is."""


@dataclass(frozen=True)
class Signature:
    """A recording's `signature` object: the algorithm, which key signed, the signature."""

    key_id: str
    value: str
    algorithm: str = ALGORITHM

    def to_dict(self) -> dict[str, str]:
        return {"algorithm": self.algorithm, "key_id": self.key_id, "value": self.value}


def answer_digest(response: Mapping[str, Any]) -> str:
    """Hex sha256 of a recording's `response` object as canonical JSON: what an answer is,
    whatever the file's layout, for signatures and for the report's `answers`."""
    text = json.dumps(response, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def signed_message(request_digest: str, sample: int, answer: str) -> bytes:
    """The bytes a recording's signature is made over."""
    return _CONTEXT + f"{request_digest}\n{sample}\n{answer}".encode("ascii")


def key_id(public_raw: bytes) -> str:
    """A short name of a public key, `ed25519:` and 16 hex digits of its sha256, for messages."""
    return f"{ALGORITHM}:{hashlib.sha256(public_raw).hexdigest()[:16]}"


def public_key_id(public_text: str) -> str:
    """`key_id` of a public key given as text (checked: raises `SigningKeyError`)."""
    return key_id(_decode(public_text, PUBLIC_KEY_INI))


def generate_key_pair() -> tuple[str, str]:
    """A new key pair as text: (private key, public key)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    return _text(_private_raw(private)), _text(_public_raw(private.public_key()))


class RecordingSigner:
    """Signs recordings with the private key of the trusted recording environment."""

    def __init__(self, private_text: str) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        raw = _decode(private_text, f"{SIGNING_KEY_ENV}")
        self._key: Ed25519PrivateKey = Ed25519PrivateKey.from_private_bytes(raw)
        public = _public_raw(self._key.public_key())
        self.public_key = _text(public)
        self.key_id = key_id(public)

    def __repr__(self) -> str:  # never the key itself, in a traceback's locals or a log
        return f"RecordingSigner({self.key_id})"

    def sign(self, request_digest: str, sample: int, answer: str) -> Signature:
        """The signature of the answer with digest `answer` to `request_digest`'s `sample`."""
        value = self._key.sign(signed_message(request_digest, sample, answer))
        return Signature(self.key_id, base64.b64encode(value).decode("ascii"))


class RecordingVerifier:
    """Checks recordings against the public key of `llm_store_public_key`."""

    def __init__(self, public_text: str, *, source: str = PUBLIC_KEY_INI) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self._invalid = InvalidSignature  # looked up once: `problem` runs once a replay
        raw = _decode(public_text, source)
        self._key: Ed25519PublicKey = Ed25519PublicKey.from_public_bytes(raw)
        self.public_key = _text(raw)
        self.key_id = key_id(raw)

    def __repr__(self) -> str:
        return f"RecordingVerifier({self.key_id})"

    def problem(
        self, request_digest: str, sample: int, answer: str, signature: object
    ) -> str | None:
        """Why a recording's `signature` (its JSON value, None when absent) does not vouch for
        the answer with digest `answer` to `request_digest`'s `sample`; None when it does."""
        if signature is None:
            return "unsigned: it has no signature"
        # A recording read from JSON holds a dict: `type() is` costs less than the ABC check.
        if not (type(signature) is dict or isinstance(signature, Mapping)) or not isinstance(
            signature.get("value"), str
        ):
            return 'the "signature" is not an object with a "value" string'
        algorithm = signature.get("algorithm", ALGORITHM)
        if algorithm != ALGORITHM:
            return f"signed with {str(algorithm)[:40]!r}, not {ALGORITHM}"
        signer = signature.get("key_id")
        if isinstance(signer, str) and signer != self.key_id:
            return f"signed by another key ({signer[:40]}, not {self.key_id})"
        try:
            value = _strict_base64(signature["value"])
        except (binascii.Error, ValueError):
            return "the signature is not base64"
        try:
            self._key.verify(value, signed_message(request_digest, sample, answer))
        except self._invalid:
            if isinstance(signer, str):
                return "changed after it was signed: the signature does not match it"
            return "the signature does not match it (changed, or signed by another key)"
        return None


def _strict_base64(text: str) -> bytes:
    """`text` as standard base64, refusing any other character (binascii's strict mode where
    there is one: base64's `validate=True` runs a regular expression first)."""
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(text, strict_mode=True)
    return base64.b64decode(text, validate=True)


def _decode(text: str, source: str) -> bytes:
    cleaned = "".join(str(text).split())
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(
            f"{source} is not an Ed25519 key in base64 (make one with `llmeval store keygen`)"
        ) from None
    if len(raw) != _KEY_BYTES:
        raise SigningKeyError(
            f"{source} holds {len(raw)} bytes, not the {_KEY_BYTES} of an Ed25519 key"
            " (make one with `llmeval store keygen`)"
        )
    return raw


def _text(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _private_raw(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def _public_raw(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
