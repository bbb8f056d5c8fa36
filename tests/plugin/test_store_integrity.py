"""A required check no pull request can forge: signed recordings, and the changes it shows.

Each test runs a small suite in an inner pytest session: recorded against the simulator in a
"trusted" run (the signing key in the environment), then replayed offline the way CI does,
after the store or the suite was changed the way a pull request could change it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpcore2  # noqa: F401  # keeps one httpcore2 for every inner run (see conftest.py)
import pytest

from pytest_llmeval.replay.signing import PUBLIC_KEY_INI, SIGNING_KEY_ENV, generate_key_pair
from pytest_llmeval.simulator import SimRequest, Simulator
from tests.conftest import FT_MODEL

XDIST = [[], ["-n", "2"]]
KEYS = generate_key_pair()

SUITE = """
import pytest

@pytest.mark.llm_metric("gated", threshold=0.9)
@pytest.mark.parametrize("n", range(20))
def test_ticket(n, llm):
    assert llm.chat(f"ticket {n}", temperature=0.0).text == f"answer {n}"
"""


def regressed(request: SimRequest) -> str | None:
    """The model of the pull request: tickets 0 to 7 answered wrongly, the others right."""
    found = (
        re.search(r"ticket (\d+)", request.last_user_message)
        if request.endpoint == "chat"
        else None
    )
    if found is None:
        return None
    number = int(found.group(1))
    return "wrong" if number < 8 else f"answer {number}"


def ini(pytester: pytest.Pytester, *, public_key: str | None) -> None:
    lines = ["[pytest]", "llm_store = store"]
    if public_key is not None:
        lines.append(f"{PUBLIC_KEY_INI} = {public_key}")
    pytester.makeini("\n".join(lines) + "\n")


def record(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *, signed: bool) -> None:
    """The trusted recording run: the regressed model's answers, signed when `signed`."""
    pytester.makepyfile(test_suite=SUITE)
    ini(pytester, public_key=KEYS[1])
    if signed:
        monkeypatch.setenv(SIGNING_KEY_ENV, KEYS[0])
    with Simulator(regressed) as server:
        result = pytester.runpytest(
            f"--llm-model={FT_MODEL}",
            f"--llm-server-url={server.url}",
            "--llm-record-mode=all",
            "-p",
            "no:cacheprovider",
            "--llm-report=base.json",
        )
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    assert result.ret == 1  # 12 of 20: below the threshold 0.9
    result.assert_outcomes(passed=12, failed=8)


def replay(pytester: pytest.Pytester, *flags: str) -> pytest.RunResult:
    return pytester.runpytest(
        f"--llm-model={FT_MODEL}",
        "--llm-server-url=http://127.0.0.1:9",  # nothing listens: every answer is recorded
        "--llm-record-mode=none",
        "--strict-markers",
        "-p",
        "no:cacheprovider",
        "--llm-report=report.json",
        "--llm-report-md=report.md",
        *flags,
    )


def chat_recordings(pytester: pytest.Pytester) -> list[Path]:
    return sorted((pytester.path / "store" / "v1-chat-completions").rglob("*.json"))


def forge(pytester: pytest.Pytester) -> list[str]:
    """Replaces every wrong recorded answer with the right one, as sed would; returns the
    files changed, relative to the test folder."""
    changed = []
    for file in chat_recordings(pytester):
        document: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        message = document["response"]["body"]["choices"][0]["message"]
        if message["content"] == "wrong":
            user = document["request"]["body"]["messages"][-1]["content"]
            message["content"] = user.replace("ticket", "answer")
            file.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            changed.append(file.relative_to(pytester.path).as_posix())
    assert len(changed) == 8
    return changed


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("flags", XDIST, ids=["serial", "xdist"])
def test_a_signed_store_replays_with_the_public_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    record(pytester, monkeypatch, signed=True)
    assert all('"signature"' in file.read_text("utf-8") for file in chat_recordings(pytester))
    result = replay(pytester, *flags)
    result.assert_outcomes(passed=12, failed=8)
    assert result.ret == 1
    data = report(pytester)
    assert data["store_integrity"] == []
    assert data["usage"]["store_hits"] == 20
    assert data["run"]["store_key"].startswith("ed25519:")
    assert "store_integrity" not in " ".join(data["gate"]["reasons"])


@pytest.mark.parametrize("flags", XDIST, ids=["serial", "xdist"])
def test_forged_answers_block_on_store_integrity_naming_each_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    record(pytester, monkeypatch, signed=True)
    changed = forge(pytester)

    # Without a public key the forgery works, and the changes section gives it away.
    ini(pytester, public_key=None)
    unchecked = replay(pytester, *flags, "--llm-baseline=base.json")
    assert unchecked.ret == 0
    unchecked.stdout.fnmatch_lines(
        ["llmeval gate: PROMOTE", "*8 recorded answers differ from the baseline's*"]
    )
    markdown = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert "8 recorded answers differ from the baseline" in markdown

    ini(pytester, public_key=KEYS[1])
    result = replay(pytester, *flags)
    assert result.ret == 1
    result.assert_outcomes(passed=12, failed=8)  # raised in the test body: an error in the report
    result.stdout.fnmatch_lines(["llmeval gate: BLOCK"])
    output = result.stdout.str()
    for file in changed:
        assert f"{file}: changed after it was signed" in output
    data = report(pytester)
    assert sorted(entry.split(":")[0] for entry in data["store_integrity"]) == changed
    assert any(reason.startswith("store integrity:") for reason in data["gate"]["reasons"])
    errored = [case for case in data["cases"] if case["outcome"] == "error"]
    assert {case["error_type"] for case in errored} == {"StoreIntegrityError"}
    assert changed[0] in (pytester.path / "report.md").read_text(encoding="utf-8")


def test_an_unsigned_store_never_replays_with_a_public_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(pytester, monkeypatch, signed=False)
    result = replay(pytester)
    assert result.ret == 1
    result.assert_outcomes(failed=20)
    result.stdout.fnmatch_lines(["*store/v1-chat-completions/*.json: unsigned*"])
    assert {case["outcome"] for case in report(pytester)["cases"]} == {"error"}


def test_the_public_key_option_overrides_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(pytester, monkeypatch, signed=True)
    other = generate_key_pair()[1]
    result = replay(pytester, f"--llm-store-public-key={other}")
    result.assert_outcomes(failed=20)
    result.stdout.fnmatch_lines(["*signed by another key*"])
    bad = replay(pytester, "--llm-store-public-key=not-a-key")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["*llm-store-public-key*not an Ed25519 key*"])


def llmeval(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmeval", *args],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_llmeval_store_verify_exits_1_naming_the_forged_files_and_sign_fixes_a_store(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(pytester, monkeypatch, signed=True)
    assert llmeval(pytester, "store", "verify").returncode == 0
    changed = forge(pytester)
    verified = llmeval(pytester, "store", "verify")
    assert verified.returncode == 1
    assert sorted(line.split(":")[0] for line in verified.stdout.splitlines()) == changed
    assert all(
        line.endswith("changed after it was signed: the signature does not match it")
        for line in verified.stdout.splitlines()
    )
    monkeypatch.setenv(SIGNING_KEY_ENV, KEYS[0])
    signed = llmeval(pytester, "store", "sign")
    assert signed.returncode == 0, signed.stderr
    assert KEYS[0] not in signed.stdout + signed.stderr
    monkeypatch.delenv(SIGNING_KEY_ENV)
    assert llmeval(pytester, "store", "verify").returncode == 0


def test_keygen_prints_a_key_pair_the_plugin_takes(pytester: pytest.Pytester) -> None:
    done = llmeval(pytester, "store", "keygen")
    assert done.returncode == 0
    first, second = done.stdout.splitlines()
    assert first.startswith(f"{SIGNING_KEY_ENV}=") and second.startswith(f"{PUBLIC_KEY_INI} = ")


LEAKY_SUITE = """
import os
import pytest

@pytest.mark.llm_metric("gated", threshold=0.0)
def test_leaks(llm):
    key = os.environ["LLMEVAL_STORE_SIGNING_KEY"]
    print("the key is", key)
    assert llm.chat("ticket 1", temperature=0.0).text == key

def test_plain():
    key = os.environ["LLMEVAL_STORE_SIGNING_KEY"]
    raise RuntimeError(f"leaked {key}")
"""


@pytest.mark.parametrize("flags", XDIST, ids=["serial", "xdist"])
def test_the_signing_key_is_never_written_or_shown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    pytester.makepyfile(test_suite=LEAKY_SUITE)
    ini(pytester, public_key=KEYS[1])
    monkeypatch.setenv(SIGNING_KEY_ENV, KEYS[0])
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "summary.md"))
    with Simulator(regressed) as server:
        result = pytester.runpytest(
            *flags,
            f"--llm-model={FT_MODEL}",
            f"--llm-server-url={server.url}",
            "-p",
            "no:cacheprovider",
            "-l",
            "--tb=long",
            "-rA",
            "--llm-report=report.json",
            "--llm-report-md=report.md",
            "--junitxml=junit.xml",
            "--llm-ledger=ledger.jsonl",
        )
    assert result.ret == 1
    output = "\n".join(result.outlines + result.errlines)
    pieces = [KEYS[0][start : start + 10] for start in range(len(KEYS[0]) - 9)]
    assert not [piece for piece in pieces if piece in output]
    for path in pytester.path.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            assert not [piece for piece in pieces if piece in text], path


# -- the changes a pull request makes to the check itself ---------------------------------

SCORED_SUITE = """
import pytest

@pytest.mark.llm_metric("gated", threshold={threshold})
@pytest.mark.parametrize("n", range(10))
def test_case(n, llm_score):
    {skip}
    llm_score("n", n)

@pytest.mark.llm_metric("{info}")
def test_info(llm_score):
    llm_score("n", 1)
"""


def scored(
    pytester: pytest.Pytester, threshold: str = "0.5", skip: str = "", info: str = "info"
) -> None:
    pytester.makepyfile(test_scored=SCORED_SUITE.format(threshold=threshold, skip=skip, info=info))


def baseline_then(pytester: pytest.Pytester, **change: str) -> None:
    scored(pytester)
    assert pytester.runpytest("-p", "no:cacheprovider", "--llm-report=base.json").ret == 0
    scored(pytester, **change)


def changed_run(pytester: pytest.Pytester, *flags: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--llm-baseline=base.json",
        "--llm-report=report.json",
        "--llm-report-md=report.md",
        *flags,
    )


@pytest.mark.parametrize("flags", XDIST, ids=["serial", "xdist"])
def test_a_lowered_threshold_is_named_and_blocks_under_ci_unless_allowed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    baseline_then(pytester, threshold="0.1")
    local = changed_run(pytester, *flags)
    assert local.ret == 0
    local.stdout.fnmatch_lines(["llmeval gate: PROMOTE", "*threshold of gated lowered 0.5 → 0.1*"])
    assert "threshold of gated lowered 0.5 → 0.1" in (pytester.path / "report.md").read_text(
        "utf-8"
    )
    changes = report(pytester)["changes"]
    assert changes["settings"][0]["text"] == "threshold of gated lowered 0.5 → 0.1"

    monkeypatch.setenv("CI", "true")
    blocked = changed_run(pytester, *flags)
    assert blocked.ret == 1
    blocked.stdout.fnmatch_lines(
        ["llmeval gate: BLOCK", "*threshold of gated lowered 0.5 → 0.1*--llm-allow-relaxed*"]
    )
    assert changed_run(pytester, *flags, "--llm-allow-relaxed").ret == 0


def test_allowing_a_relaxation_from_the_ini_file_does_not_count(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline_then(pytester, threshold="0.1")
    pytester.makeini("[pytest]\naddopts = --llm-allow-relaxed --llm-allow-skips\n")
    monkeypatch.setenv("CI", "true")
    result = changed_run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*--llm-allow-relaxed*"])


@pytest.mark.parametrize("flags", XDIST, ids=["serial", "xdist"])
def test_skipped_or_xfailed_cases_the_baseline_ran_block_under_ci_unless_allowed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    baseline_then(
        pytester,
        skip='if n < 2: pytest.skip("flaky")\n    if n == 2: pytest.xfail("known")',
    )
    local = changed_run(pytester, *flags)
    assert local.ret == 0
    local.stdout.fnmatch_lines(["*2 eval cases the baseline ran are skipped now*"])
    changes = report(pytester)["changes"]
    assert sorted(changes["cases"]["skipped"]) == [
        "test_scored.py::test_case[0]",
        "test_scored.py::test_case[1]",
    ]
    assert changes["cases"]["xfailed"] == ["test_scored.py::test_case[2]"]
    monkeypatch.setenv("CI", "true")
    blocked = changed_run(pytester, *flags)
    assert blocked.ret == 1
    blocked.stdout.fnmatch_lines(
        ["*3 eval cases the baseline ran were skipped, xfailed or removed*--llm-allow-skips*"]
    )
    assert changed_run(pytester, *flags, "--llm-allow-skips").ret == 0


def test_removed_cases_and_a_renamed_gated_group_block_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored(pytester)
    assert pytester.runpytest("-p", "no:cacheprovider", "--llm-report=base.json").ret == 0
    pytester.makepyfile(
        test_scored="""
import pytest

@pytest.mark.llm_metric("gated_v2", threshold=0.5)
@pytest.mark.parametrize("n", range(8))
def test_case(n, llm_score):
    llm_score("n", n)
"""
    )
    monkeypatch.setenv("CI", "true")
    result = changed_run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*group gated, gated in the baseline, is missing now (renamed or removed)*"]
    )
    changes = report(pytester)["changes"]
    assert changes["cases"]["removed"] == [
        "test_scored.py::test_case[8]",
        "test_scored.py::test_case[9]",
        "test_scored.py::test_info",
    ]
    reasons = " ".join(report(pytester)["gate"]["reasons"])
    assert "--llm-allow-skips" in reasons and "--llm-allow-relaxed" in reasons
    assert changed_run(pytester, "--llm-allow-skips", "--llm-allow-relaxed").ret == 0
