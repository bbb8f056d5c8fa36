"""Tests of signed recordings: keys, signatures, a store signed and checked offline."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.errors import StoreIntegrityError
from pytest_llmeval.replay import ReplayStore, StoreRequest
from pytest_llmeval.replay.signing import (
    PUBLIC_KEY_INI,
    SIGNING_KEY_ENV,
    RecordingSigner,
    RecordingVerifier,
    SigningKeyError,
    answer_digest,
    generate_key_pair,
)
from pytest_llmeval.replay.store_check import sign_store, verify_store
from pytest_llmeval.replay.store_command import main

CHAT = "/v1/chat/completions"


def answer(text: str) -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def request(user: str) -> StoreRequest:
    return StoreRequest(
        "POST", CHAT, body={"model": "m", "messages": [{"role": "user", "content": user}]}
    )


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_key_pair()


def signed_store(root: Path, private: str, texts: dict[str, str]) -> dict[str, Path]:
    store = ReplayStore(root, signer=RecordingSigner(private))
    return {
        user: store.save(request(user), 0, 200, "application/json", answer(text))
        for user, text in texts.items()
    }


def forge(file: Path, old: str, new: str) -> None:
    file.write_text(file.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_a_key_pair_is_two_base64_keys_of_32_bytes(keys: tuple[str, str]) -> None:
    import base64

    private, public = keys
    assert len(base64.b64decode(private)) == len(base64.b64decode(public)) == 32
    assert RecordingSigner(private).public_key == public
    assert RecordingVerifier(public).public_key == public


@pytest.mark.parametrize("text", ["not base64!", "c2hvcnQ=", ""])
def test_a_bad_key_is_refused_without_showing_it(text: str) -> None:
    with pytest.raises(SigningKeyError) as raised:
        RecordingSigner(text)
    assert SIGNING_KEY_ENV in str(raised.value)
    if text:
        assert text not in str(raised.value)


def test_the_signers_repr_never_holds_the_private_key(keys: tuple[str, str]) -> None:
    private, _ = keys
    signer = RecordingSigner(private)
    assert private not in repr(signer) and private not in str(vars(signer))


def test_a_signature_holds_for_its_request_sample_and_answer_only(keys: tuple[str, str]) -> None:
    private, public = keys
    signer, verifier = RecordingSigner(private), RecordingVerifier(public)
    digest = answer_digest({"status": 200, "body": {"a": 1}})
    signature = signer.sign("ab" * 32, 0, digest).to_dict()
    assert verifier.problem("ab" * 32, 0, digest, signature) is None
    assert verifier.problem("cd" * 32, 0, digest, signature) is not None  # moved
    assert verifier.problem("ab" * 32, 1, digest, signature) is not None  # other sample
    changed = answer_digest({"status": 200, "body": {"a": 2}})
    assert "changed" in str(verifier.problem("ab" * 32, 0, changed, signature))
    assert "unsigned" in str(verifier.problem("ab" * 32, 0, digest, None))


def test_a_foreign_key_is_named_as_such(keys: tuple[str, str]) -> None:
    foreign_private, _ = generate_key_pair()
    digest = answer_digest({"status": 200})
    signature = RecordingSigner(foreign_private).sign("ab" * 32, 0, digest).to_dict()
    problem = RecordingVerifier(keys[1]).problem("ab" * 32, 0, digest, signature)
    assert problem is not None and "another key" in problem


def test_a_signed_store_replays_and_a_forged_answer_raises(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    private, public = keys
    files = signed_store(tmp_path, private, {"is it a bug?": "no", "refund?": "yes"})
    store = ReplayStore(tmp_path, verifier=RecordingVerifier(public))
    assert store.load(request("is it a bug?")) is not None
    forge(files["is it a bug?"], '"no"', '"yes"')
    with pytest.raises(StoreIntegrityError) as raised:
        store.load(request("is it a bug?"))
    assert raised.value.file == files["is it a bug?"]
    assert "changed after it was signed" in str(raised.value)
    assert store.load(request("refund?")) is not None


def test_without_a_public_key_a_forged_answer_replays_as_before(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    files = signed_store(tmp_path, keys[0], {"q": "no"})
    forge(files["q"], '"no"', '"yes"')
    stored = ReplayStore(tmp_path).load(request("q"))
    assert stored is not None and b'"yes"' in stored.body


def test_an_unsigned_recording_is_refused_with_a_public_key(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    ReplayStore(tmp_path).save(request("q"), 0, 200, "application/json", answer("no"))
    store = ReplayStore(tmp_path, verifier=RecordingVerifier(keys[1]))
    with pytest.raises(StoreIntegrityError, match="unsigned"):
        store.load(request("q"))


def test_verify_store_names_each_bad_file(tmp_path: Path, keys: tuple[str, str]) -> None:
    private, public = keys
    files = signed_store(tmp_path, private, {"a": "no", "b": "no", "c": "no"})
    forge(files["a"], '"no"', '"yes"')
    moved = files["c"].with_name(files["b"].name.replace(files["b"].name[:64], "0" * 64))
    os.replace(files["c"], moved)
    bad = verify_store(tmp_path, RecordingVerifier(public), shown=".llmeval/store")
    reasons = {entry.path.rsplit("/", 1)[1]: entry.reason for entry in bad}
    assert set(reasons) == {files["a"].name, moved.name}
    assert "changed after it was signed" in reasons[files["a"].name]
    assert "does not match its file name" in reasons[moved.name]
    assert all(entry.path.startswith(".llmeval/store/v1-chat-completions/") for entry in bad)


def test_sign_store_signs_an_unsigned_store(tmp_path: Path, keys: tuple[str, str]) -> None:
    private, public = keys
    for user in ("a", "b"):
        ReplayStore(tmp_path).save(request(user), 0, 200, "application/json", answer("no"))
    verifier = RecordingVerifier(public)
    assert len(verify_store(tmp_path, verifier, shown="")) == 2
    signed, refused = sign_store(tmp_path, RecordingSigner(private), shown="")
    assert (signed, refused) == (2, [])
    assert verify_store(tmp_path, verifier, shown="") == []
    assert sign_store(tmp_path, RecordingSigner(private), shown="") == (0, [])


def run_command(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    saved, saved_env = Path.cwd(), dict(os.environ)
    os.chdir(cwd)
    os.environ.update(env or {})
    try:
        try:
            status = main(argv, out=out)
        except SystemExit as stop:
            status = int(stop.code or 0)
    finally:
        os.chdir(saved)
        os.environ.clear()
        os.environ.update(saved_env)
    return status, out.getvalue()


def test_keygen_prints_the_two_lines(tmp_path: Path) -> None:
    status, text = run_command(["keygen"], tmp_path)
    first, second = text.splitlines()
    assert status == 0
    assert first.startswith(f"{SIGNING_KEY_ENV}=")
    assert second.startswith(f"{PUBLIC_KEY_INI} = ")
    private, public = first.split("=", 1)[1], second.split(" = ", 1)[1]
    assert RecordingSigner(private).public_key == public


@pytest.mark.parametrize(
    ("ini_name", "section"),
    [
        ("pytest.ini", "[pytest]"),
        ("tox.ini", "[pytest]"),
        ("setup.cfg", "[tool:pytest]"),
        ("pyproject.toml", "[tool.pytest.ini_options]"),
    ],
)
def test_verify_reads_the_key_from_the_ini_file_and_exits_1_naming_the_file(
    tmp_path: Path, keys: tuple[str, str], ini_name: str, section: str
) -> None:
    private, public = keys
    quoted = f'"{public}"' if ini_name == "pyproject.toml" else public
    (tmp_path / ini_name).write_text(f"{section}\n{PUBLIC_KEY_INI} = {quoted}\n", encoding="utf-8")
    files = signed_store(tmp_path / ".llmeval" / "store", private, {"a": "no", "b": "no"})
    assert run_command(["verify"], tmp_path) == (0, "")
    forge(files["a"], '"no"', '"yes"')
    status, text = run_command(["verify"], tmp_path)
    relative = files["a"].relative_to(tmp_path).as_posix()
    assert status == 1
    assert text.splitlines() == [
        f"{relative}: changed after it was signed: the signature does not match it"
    ]


def test_verify_takes_a_store_and_a_key_on_the_command_line(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    private, public = keys
    signed_store(tmp_path / "answers", private, {"a": "no"})
    other = generate_key_pair()[1]
    assert run_command(["verify", "answers", "--public-key", public], tmp_path)[0] == 0
    status, text = run_command(["verify", "answers", "--public-key", other], tmp_path)
    assert status == 1 and "signed by another key" in text


def test_verify_without_a_key_or_store_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / ".llmeval" / "store").mkdir(parents=True)
    assert run_command(["verify"], tmp_path)[0] == 2
    assert (
        run_command(["verify", "missing", "--public-key", generate_key_pair()[1]], tmp_path)[0] == 2
    )


def test_sign_uses_the_environment_key_and_never_prints_it(
    tmp_path: Path, keys: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = keys
    ReplayStore(tmp_path / ".llmeval" / "store").save(
        request("a"), 0, 200, "application/json", answer("no")
    )
    assert run_command(["sign"], tmp_path)[0] == 2  # no key in the environment
    status, text = run_command(["sign"], tmp_path, {SIGNING_KEY_ENV: private})
    assert status == 0
    assert run_command(["verify", "--public-key", public], tmp_path)[0] == 0
    shown = text + "".join(capsys.readouterr())
    assert private not in shown
    every_file = "".join(
        path.read_text(encoding="utf-8") for path in (tmp_path / ".llmeval").rglob("*.json")
    )
    assert private not in every_file


def test_a_recording_without_signature_keys_reads_as_before(tmp_path: Path) -> None:
    file = ReplayStore(tmp_path).save(request("a"), 0, 200, "application/json", answer("no"))
    document: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    assert "signature" not in document


# -- both ways a replay is read ----------------------------------------------------------


def replay_through(endpoint: Any, read: str, messages: Any, case: Any) -> None:
    if read == "fast path":
        endpoint.chat(messages, {}, recorder=case)
    else:
        endpoint.submit_chat(messages, {}, recorder=case).result()


def test_both_replay_paths_refuse_a_forged_answer_and_note_the_file(
    tmp_path: Path, keys: tuple[str, str]
) -> None:
    from pytest_llmeval.calls.endpoint import Endpoint
    from pytest_llmeval.case_record import CaseRecorder, GroupSettings
    from pytest_llmeval.session.options import endpoint_settings
    from pytest_llmeval.simulator import Simulator

    private, public = keys
    messages = [{"role": "user", "content": "ticket 1"}]
    with Simulator() as server:
        recording = Endpoint(
            endpoint_settings(
                model="mistral-small-latest",
                server_url=server.url,
                store_dir=tmp_path,
                store_signing_key=private,
            )
        )
        try:
            recorder = CaseRecorder("t::a", GroupSettings("g"))
            text = recording.submit_chat(messages, {}, recorder=recorder).result().text
        finally:
            recording.close()
    (file,) = tmp_path.rglob("*.json")
    key = f"{file.name[:-5]}"
    assert set(recorder.answers) == {key}  # the recorded answer's digest, for the report

    def replaying() -> Endpoint:
        return Endpoint(
            endpoint_settings(
                model="mistral-small-latest",
                server_url="http://127.0.0.1:9",
                store_dir=tmp_path,
                record_mode="none",
                store_public_key=public,
            )
        )

    endpoint = replaying()
    try:
        replayed = CaseRecorder("t::b", GroupSettings("g"))
        assert endpoint.chat(messages, {}, recorder=replayed).text == text
        assert replayed.answers == recorder.answers
    finally:
        endpoint.close()
    forge(file, json.dumps(text), json.dumps(text + " forged"))
    for read in ("fast path", "transport"):
        endpoint = replaying()
        case = CaseRecorder("t::c", GroupSettings("g"))
        try:
            with pytest.raises(StoreIntegrityError) as raised:
                replay_through(endpoint, read, messages, case)
        finally:
            endpoint.close()
        assert raised.value.file == file or Path(str(raised.value.file)) == file
        assert len(case.store_integrity) == 1, read
        assert case.store_integrity[0].endswith(
            ": changed after it was signed: the signature does not match it"
        )
        assert case.answers == {}
