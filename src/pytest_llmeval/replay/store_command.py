"""`llmeval store keygen | verify | sign`: the signing key pair, and a store checked offline."""

from __future__ import annotations

import argparse
import configparser
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from pytest_llmeval.replay.signing import (
    PUBLIC_KEY_INI,
    SIGNING_KEY_ENV,
    RecordingSigner,
    RecordingVerifier,
    SigningKeyError,
    generate_key_pair,
)

DEFAULT_STORE = ".llmeval/store"
STORE_INI = "llm_store"


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `llmeval store` with the command's subparsers (see `cli.py`)."""
    store = commands.add_parser(
        "store",
        help="sign recordings, and check a store against the public key",
        description=DESCRIPTION,
    )
    add_store_commands(store)
    store.set_defaults(usage_error=store.error, run=run)


DESCRIPTION = (
    "Sign recorded answers in the trusted recording environment, and check a store offline "
    "against the public key. verify exits 0 when every recording holds, 1 naming each bad "
    "file, 2 on a usage error."
)


def add_store_commands(parser: argparse.ArgumentParser) -> None:
    """`keygen`, `verify [STORE] [--public-key KEY]` and `sign [STORE]` under `parser`."""
    commands = parser.add_subparsers(dest="store_command", required=True, metavar="COMMAND")
    commands.add_parser(
        "keygen",
        help="print a new Ed25519 key pair: the private key for the recording environment's "
        f"secrets ({SIGNING_KEY_ENV}) and the public key for the ini file ({PUBLIC_KEY_INI})",
    )
    verify = commands.add_parser(
        "verify",
        help="check every recording's signature; exit 1 naming each bad file, 0 when all hold",
    )
    verify.add_argument(
        "store",
        nargs="?",
        type=Path,
        help=f"the store (default: {STORE_INI} in the ini file, else {DEFAULT_STORE})",
    )
    verify.add_argument(
        "--public-key",
        metavar="KEY",
        help=f"the public key (default: {PUBLIC_KEY_INI} in the ini file of this folder)",
    )
    sign = commands.add_parser(
        "sign",
        help=f"sign every recording with the private key in {SIGNING_KEY_ENV} (for a store "
        "checked in the trusted environment, e.g. one recorded before signing)",
    )
    sign.add_argument("store", nargs="?", type=Path, help="the store (default as for verify)")


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """`llmeval store ...` on its own; returns the exit status (0 good, 1 bad, 2 usage)."""
    parser = argparse.ArgumentParser(prog="llmeval store", description=DESCRIPTION)
    add_store_commands(parser)
    args = parser.parse_args(argv)
    args.usage_error = parser.error
    return run(args, out=out)


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    fail: Callable[[str], NoReturn] = args.usage_error
    cwd = Path.cwd()
    ini = IniFile.find(cwd)
    if args.store_command == "keygen":
        private, public = generate_key_pair()
        out.write(f"{SIGNING_KEY_ENV}={private}\n{PUBLIC_KEY_INI} = {public}\n")
        return 0
    store, shown = _store(args.store, ini, cwd)
    if not store.is_dir():
        fail(f"{shown}: no such store folder")
    if args.store_command == "verify":
        return _verify(fail, store, shown, args.public_key, ini, out)
    return _sign(fail, store, shown, out)


def _verify(
    fail: Callable[[str], NoReturn],
    store: Path,
    shown: str,
    key: str | None,
    ini: IniFile | None,
    out: TextIO,
) -> int:
    from pytest_llmeval.replay.store_check import recording_files, verify_store

    source = "--public-key"
    if key is None and ini is not None:
        key, source = ini.get(PUBLIC_KEY_INI), f"{PUBLIC_KEY_INI} in {ini.path.name}"
    if not key:
        fail(
            f"no public key: pass --public-key KEY or set {PUBLIC_KEY_INI} in the ini file"
            " (make a key pair with `llmeval store keygen`)"
        )
    try:
        verifier = RecordingVerifier(key, source=source)
    except SigningKeyError as error:
        fail(str(error))
    bad = verify_store(store, verifier, shown=shown)
    for recording in bad:
        out.write(f"{recording}\n")
    total = sum(1 for _ in recording_files(store))
    summary = f"llmeval store verify: {total - len(bad)} of {total} recordings signed by"
    print(f"{summary} {verifier.key_id}", file=sys.stderr)
    return 1 if bad else 0


def _sign(fail: Callable[[str], NoReturn], store: Path, shown: str, out: TextIO) -> int:
    from pytest_llmeval.replay.store_check import sign_store

    private = os.environ.get(SIGNING_KEY_ENV)
    if not private:
        fail(
            f"{SIGNING_KEY_ENV} is not set: sign only where the private key is a secret"
            " (the trusted recording environment)"
        )
    try:
        signer = RecordingSigner(private)
    except SigningKeyError as error:
        fail(str(error))
    signed, refused = sign_store(store, signer, shown=shown)
    for recording in refused:
        out.write(f"{recording}\n")
    print(
        f"llmeval store sign: {signed} recordings signed by {signer.key_id} in {shown}",
        file=sys.stderr,
    )
    return 1 if refused else 0


def _store(given: Path | None, ini: IniFile | None, cwd: Path) -> tuple[Path, str]:
    if given is not None:
        return given, given.as_posix()
    if ini is not None and ini.get(STORE_INI):
        path = ini.path.parent / str(ini.get(STORE_INI))
        return path, _relative(path, cwd)
    return cwd / DEFAULT_STORE, DEFAULT_STORE


def _relative(path: Path, cwd: Path) -> str:
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()


class IniFile:
    """pytest's ini file in a folder, read as pytest picks it: pytest.ini, .pytest.ini,
    pyproject.toml ([tool.pytest.ini_options]), tox.ini ([pytest]), setup.cfg ([tool:pytest])."""

    def __init__(self, path: Path, values: dict[str, str]) -> None:
        self.path = path
        self._values = values

    def get(self, key: str) -> str | None:
        value = self._values.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    @classmethod
    def find(cls, folder: Path) -> IniFile | None:
        for name, section in (
            ("pytest.ini", "pytest"),
            (".pytest.ini", "pytest"),
            ("pyproject.toml", None),
            ("tox.ini", "pytest"),
            ("setup.cfg", "tool:pytest"),
        ):
            path = folder / name
            if not path.is_file():
                continue
            values = _toml_values(path) if section is None else _cfg_values(path, section)
            if values is not None:
                return cls(path, values)
        return None


def _cfg_values(path: Path, section: str) -> dict[str, str] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError):
        return None
    if not parser.has_section(section):
        return {} if path.name in ("pytest.ini", ".pytest.ini") else None
    return dict(parser.items(section))


def _toml_values(path: Path) -> dict[str, str] | None:
    try:
        toml: Any = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10
        try:
            toml = importlib.import_module("tomli")
        except ModuleNotFoundError:
            return None
    try:
        with path.open("rb") as stream:
            data = toml.load(stream)
    except (OSError, ValueError):
        return None
    options = data.get("tool", {}).get("pytest", {}).get("ini_options")
    if not isinstance(options, dict):
        return None
    return {str(key): str(value) for key, value in options.items()}
