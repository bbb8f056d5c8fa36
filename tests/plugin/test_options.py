"""The llmeval options: help, defaults, sources and one-line usage errors."""

from __future__ import annotations

import pytest

from pytest_llmeval.session import options


def test_help_lists_the_group_with_defaults(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*LLM evaluation (pytest-llmeval)*",
            "*--llm-model=ID*",
            "*--llm-judge-model=ID*model for LLM-as-judge checks (default:*",
            "*--llm-concurrency=N*model calls in flight at once (default: 8)*",
        ]
    )
    for option in options.OPTIONS:
        assert option.flag in result.stdout.str()


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("--llm-concurrency=abc", "--llm-concurrency='abc' is not a whole number*"),
        ("--llm-concurrency=0", "--llm-concurrency='0' must be 1 or more"),
        ("--llm-format-threshold=1.5", "--llm-format-threshold='1.5' is outside 0 to 1*"),
        ("--llm-record-mode=sometimes", "*not a record mode; use one of none, new_episodes, all"),
        ("--llm-server-url=localhost:8000", "*is not an http(s) URL*"),
        ("--llm-max-errors=-1", "--llm-max-errors='-1' must be 0 or more"),
        ("--llm-timeout=soon", "--llm-timeout='soon' is not a number of seconds"),
    ],
)
def test_a_bad_value_is_one_usage_line(
    pytester: pytest.Pytester, argument: str, expected: str
) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest(argument)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {expected}"])
    assert "Traceback" not in result.stderr.str()


def test_a_bad_ini_value_names_the_file_and_key(pytester: pytest.Pytester) -> None:
    ini = pytester.makeini("[pytest]\nllm_concurrency = many\n")
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: llm_concurrency in {ini}: 'many' is not a whole number*"])


def test_a_bad_pyproject_value_names_the_file_and_key(pytester: pytest.Pytester) -> None:
    pyproject = pytester.makepyprojecttoml('[tool.pytest.ini_options]\nllm_max_errors = "-2"\n')
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest()
    result.stderr.fnmatch_lines([f"ERROR: llm_max_errors in {pyproject}: '-2' must be 0 or more"])


def test_a_bad_environment_value_names_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_SERVER_URL", "localhost:9")
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(
        ["ERROR: environment variable MISTRAL_SERVER_URL: 'localhost:9' is not an http(s) URL*"]
    )


def test_the_header_shows_the_store_as_an_absolute_path(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nllm_store = recorded\n")
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines([f"llmeval: *store {pytester.path.resolve() / 'recorded'}"])


def test_command_line_beats_environment_beats_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nllm_model = from-ini\n")
    pytester.makepyfile(
        """
        def test_model(llm):
            print("MODEL=" + llm.model)
        """
    )
    assert "MODEL=from-ini" in pytester.runpytest("-s").stdout.str()
    monkeypatch.setenv("LLMEVAL_MODEL", "from-env")
    assert "MODEL=from-env" in pytester.runpytest("-s").stdout.str()
    assert "MODEL=from-cli" in pytester.runpytest("-s", "--llm-model=from-cli").stdout.str()


def test_record_mode_defaults_to_replay_only_on_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_plain(): pass")
    pytester.runpytest().stdout.fnmatch_lines(["llmeval: *record mode new_episodes*"])
    monkeypatch.setenv("CI", "true")
    pytester.runpytest().stdout.fnmatch_lines(["llmeval: *record mode none*"])
    pytester.runpytest("--llm-record-mode=all").stdout.fnmatch_lines(["llmeval: *record mode all*"])


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "*llm_metric(name, threshold=None)*",
            "*llm_judge(name, threshold=None, min_score=None, rubric=None)*",
            "*llm_safety(name, max_unsafe=0)*",
            "*llm_prompt(system=None, **params)*",
        ]
    )
