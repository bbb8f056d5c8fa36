"""Tests of `llmeval check-data`: the row rules, duplicates, contamination and the output."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.cli import main
from pytest_llmeval.data.datasets import cases
from pytest_llmeval.data.finetune_rows import check_sample
from pytest_llmeval.data.overlap import ContaminationIndex, DuplicateFinder, normalize_text
from pytest_llmeval.errors import DatasetError


def sample(user: Any, reply: Any = "ok", **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    return {"messages": messages, **extra}


def write(path: Path, *lines: str | bytes | dict[str, Any]) -> Path:
    with path.open("wb") as stream:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            stream.write((line.encode() if isinstance(line, str) else line) + b"\n")
    return path


def check(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, list[str]]:
    """Runs the command; its exit status and the findings it printed, one a line."""
    status = main(["check-data", *map(str, args)])
    return status, capsys.readouterr().out.splitlines()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order",
            "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}},
        },
    }
]


def tool_sample(**changes: Any) -> dict[str, Any]:
    """A valid row with a tool call, its answer and the final reply; `changes` edit messages."""
    messages: list[Any] = [
        {"role": "system", "content": "You look orders up."},
        {"role": "user", "content": "Where is order 7?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "a1b2c3d4e",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"id": 7}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "a1b2c3d4e", "content": '{"status": "sent"}'},
        {"role": "assistant", "content": "It was sent yesterday."},
    ]
    row: dict[str, Any] = {"messages": messages, "tools": TOOLS}
    for key, value in changes.items():
        row[key] = value
    return row


def test_valid_rows_have_no_problems() -> None:
    with_chunks = sample(
        [{"type": "text", "text": "Look:"}, {"type": "image_url", "image_url": "u"}]
    )
    multi_turn = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "weight": 0},
            {"role": "user", "content": "Order 7?"},
            {"role": "assistant", "content": "Sent.", "weight": 1},
        ]
    }
    last_call = tool_sample()
    last_call["messages"] = last_call["messages"][:3]  # learning the call itself

    for row in (sample("q"), with_chunks, multi_turn, tool_sample(), last_call):
        assert check_sample(row) == [], row


def messages_of(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"messages": list(messages)}


USER = {"role": "user", "content": "q"}
REPLY = {"role": "assistant", "content": "a"}


def call(call_id: str = "a1b2c3d4e", name: str = "lookup_order", arguments: Any = "{}") -> Any:
    return {"id": call_id, "function": {"name": name, "arguments": arguments}}


def answer(call_id: str = "a1b2c3d4e") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "{}"}


def calling(*calls: Any) -> dict[str, Any]:
    return {"role": "assistant", "tool_calls": list(calls)}


@pytest.mark.parametrize(
    ("row", "rule", "message"),
    [
        ({"prompt": "hi"}, "messages", 'row has no "messages"; a fine-tuning row is'),
        ({"interactions": []}, "messages", 'row has "interactions", not "messages"; rename'),
        ({"messages": []}, "messages", '"messages" is an empty list; give a non-empty list'),
        ({"messages": "hi"}, "messages", '"messages" is a string; give a non-empty list'),
        (messages_of(USER, "x"), "message", "messages[1] is a string, not an object"),
        (messages_of({"content": "q"}, REPLY), "role", 'messages[0] has no "role"; roles are'),
        (
            messages_of({"role": "human", "content": "q"}, REPLY),
            "role",
            'messages[0] has role "human"; roles are system, user, assistant, tool',
        ),
        (
            messages_of(USER, REPLY, USER),
            "last-message",
            'the last message is "user"; a fine-tuning sample ends with the assistant message',
        ),
        (messages_of(REPLY), "role-order", 'no "user" message; a sample needs'),
        (
            messages_of(USER, answer(), REPLY),
            "role-order",
            'messages[1] (tool) follows a "user" message; after user come only user or assistant',
        ),
        (
            messages_of(
                {"role": "system", "content": "a"}, USER, {"role": "system", "content": "b"}, REPLY
            ),
            "role-order",
            "messages[2] is a second system message (the first is messages[0]); "
            "mistral-finetune allows one",
        ),
        (
            {"messages": [{"role": "system", "content": "s"}, USER, REPLY], "system_prompt": "s"},
            "role-order",
            'row has both "system_prompt" and a system message',
        ),
        (
            messages_of(USER, {"role": "assistant", "content": " "}),
            "empty-content",
            "messages[1] (assistant) has empty content; give the reply the model should learn",
        ),
        (
            messages_of({"role": "user", "content": ""}, REPLY),
            "empty-content",
            "messages[0] (user) has empty content",
        ),
        (
            messages_of({"role": "user"}, REPLY),
            "content",
            'messages[0] (user) has no "content"; give the message text',
        ),
        (
            messages_of({"role": "user", "content": "q", "text": "q"}, REPLY),
            "content",
            'messages[0] (user) has both "content" and "text"',
        ),
        (
            messages_of({"role": "user", "content": 7}, REPLY),
            "content",
            "messages[0] (user).content is a number; give a string or a list of chunks",
        ),
        (
            messages_of(USER, {"role": "assistant", "content": "a", "weight": 2}),
            "weight",
            "messages[1] (assistant).weight is 2; give 0 (do not learn this reply) or 1",
        ),
        (
            messages_of(USER, {"role": "assistant", "content": "a", "weight": True}),
            "weight",
            "messages[1] (assistant).weight is a boolean; give 0",
        ),
        (
            messages_of({"role": "user", "content": "q", "weight": 1}, REPLY),
            "weight",
            'messages[0] (user) has a "weight", which is ignored',
        ),
        (
            messages_of(USER, {"role": "assistant", "content": "a", "weight": 0}),
            "weight",
            'every assistant message has "weight": 0, so the row trains nothing',
        ),
        (
            tool_sample(tools=None),
            "tools",
            'messages[2] (assistant).tool_calls[0] calls "lookup_order", but the row defines '
            "no tools",
        ),
        (
            {
                "messages": [USER, calling(call(name="cancel_order")), answer(), REPLY],
                "tools": TOOLS,
            },
            "tools",
            'messages[1] (assistant).tool_calls[0] calls "cancel_order", which the row\'s '
            '"tools" does not define',
        ),
        (
            {"messages": [USER, REPLY], "tools": [{"type": "function"}]},
            "tools",
            'tools[0] has no "function" object',
        ),
        (
            {
                "messages": [USER, REPLY],
                "tools": [{"function": {"name": "f", "description": "d", "parameters": 3}}],
            },
            "tools",
            "tools[0].function.parameters is a number; give a JSON Schema object",
        ),
        (
            {
                "messages": [USER, REPLY],
                "tools": [
                    {"function": {"name": "f", "description": "d", "parameters": {"type": 5}}}
                ],
            },
            "tools",
            "tools[0].function.parameters is not a valid JSON Schema (",
        ),
        (
            {
                "messages": [USER, REPLY],
                "tools": [{"function": {"name": "bad name", "parameters": {}}}],
            },
            "tools",
            'tools[0].function.name is "bad name"; a name is 1 to 64 letters',
        ),
        (
            {"messages": [USER, REPLY], "tools": TOOLS, "available_tools": TOOLS},
            "tools",
            'row has both "tools" and "available_tools"',
        ),
        (
            {"messages": [USER, calling(call("call_1")), answer("call_1"), REPLY], "tools": TOOLS},
            "tool-call-id",
            'messages[1] (assistant).tool_calls[0].id is "call_1"; an id is 9 letters or digits',
        ),
        (
            {"messages": [USER, calling(call("null")), answer(), REPLY], "tools": TOOLS},
            "tool-call-id",
            'messages[1] (assistant).tool_calls[0].id is "null", allowed only in the last message',
        ),
        (
            {"messages": [USER, calling(call()), answer("b1b2c3d4e"), REPLY], "tools": TOOLS},
            "tool-call-id",
            'messages[2] (tool) answers call "b1b2c3d4e", which no assistant message just '
            "before it made",
        ),
        (
            {"messages": [USER, calling(call()), REPLY], "tools": TOOLS},
            "tool-call-id",
            'messages[1] (assistant) calls "a1b2c3d4e", but no tool message answers it before '
            "messages[2]",
        ),
        (
            {"messages": [USER, calling(call()), answer(), answer(), REPLY], "tools": TOOLS},
            "tool-call-id",
            'messages[3] (tool) answers call "a1b2c3d4e" a second time',
        ),
        (
            {
                "messages": [USER, calling(call()), {"role": "tool", "content": "{}"}, REPLY],
                "tools": TOOLS,
            },
            "tool-call-id",
            'messages[2] (tool) has no "tool_call_id"; give the id of the call it answers',
        ),
        (
            {
                "messages": [USER, calling(call(arguments={"id": 7})), answer(), REPLY],
                "tools": TOOLS,
            },
            "tool-calls",
            "messages[1] (assistant).tool_calls[0].function.arguments is an object; give the "
            "arguments as a JSON string",
        ),
        (
            {
                "messages": [
                    USER,
                    {"role": "assistant", "content": "Let me look.", "tool_calls": [call()]},
                    answer(),
                    REPLY,
                ],
                "tools": TOOLS,
            },
            "content",
            "messages[1] (assistant) has both content and tool_calls",
        ),
        (
            messages_of({"role": "user", "content": "q", "tool_calls": [call()]}, REPLY),
            "tool-calls",
            'messages[0] (user) has "tool_calls"; only assistant messages call tools',
        ),
    ],
)
def test_each_rule_names_the_message_and_what_to_do(
    row: dict[str, Any], rule: str, message: str
) -> None:
    problems = check_sample(row)

    assert any(p.rule == rule and p.message.startswith(message) for p in problems), problems


def test_a_row_with_very_many_problems_gets_eleven() -> None:
    row = messages_of(*[{"role": "user", "content": 1}] * 1000, REPLY)

    problems = check_sample(row)

    assert len(problems) == 11
    assert problems[-1].message.startswith("and ")


def test_findings_read_path_line_message_and_the_exit_status_is_1(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        in_tmp / "train.jsonl",
        sample("Where is order 7?", "Sent."),
        messages_of(USER, REPLY, USER),
        "",
        '{"messages": [}',
        "[1, 2]",
        b'{"messages": "\xff"}',
        sample("Fine too", "Yes."),
    )

    status, lines = check(capsys, "train.jsonl")

    assert status == 1
    assert lines == [
        'train.jsonl:2: the last message is "user"; a fine-tuning sample ends with the assistant '
        "message the model learns",
        "train.jsonl:3: blank line; mistral-finetune fails on it (each line must hold one JSON "
        "object): delete it",
        "train.jsonl:4: not valid JSON (Expecting value at column 15)",
        "train.jsonl:5: row is a list, not an object; each line holds one JSON object",
        "train.jsonl:6: not valid UTF-8 (byte 0xff at byte 15); save the file as UTF-8",
    ]


def test_a_clean_file_exits_0_with_no_findings_and_a_summary(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(in_tmp / "train.jsonl", "\ufeff" + json.dumps(sample("a")), tool_sample())

    status = main(["check-data", "train.jsonl"])

    captured = capsys.readouterr()
    assert (status, captured.out) == (0, "")
    assert captured.err == (
        "train.jsonl: 2 lines, 0 invalid, 0 exact and 0 normalized duplicates: clean\n"
    )


def test_hostile_lines_are_findings_and_reading_goes_on(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = bytes(random.Random(7).randrange(256) for _ in range(5000)).replace(b"\n", b"")
    write(
        in_tmp / "train.jsonl",
        junk,
        "[" * 200_000,
        '{"a": ' * 50_000 + "1" + "}" * 50_000,
        json.dumps(sample("x" * 3_000_000)),  # a megabyte line is read
        json.dumps(sample("y" * 200)),
        json.dumps(sample("\ud800 lone surrogate")),
        json.dumps(messages_of({"role": "\ud800", "content": "q"}, REPLY)),
    )

    status, lines = check(capsys, "train.jsonl", "--max-line-bytes", "2000000")

    assert status == 1
    assert [line.split(": ", 1)[0] for line in lines] == [
        "train.jsonl:1",
        "train.jsonl:2",
        "train.jsonl:3",
        "train.jsonl:4",
        "train.jsonl:7",
    ]
    assert "not valid UTF-8" in lines[0] or "not valid JSON" in lines[0]
    assert lines[1] == "train.jsonl:2: not valid JSON (nesting too deep to parse); flatten the row"
    assert lines[2].startswith("train.jsonl:3: not valid JSON (nesting too deep")
    assert lines[3].startswith("train.jsonl:4: line is 3,000,0")
    assert "over the limit of 2,000,000" in lines[3]
    assert lines[4].startswith('train.jsonl:7: messages[0] has role "\\ud800"; roles are')


def test_exact_and_normalized_duplicates_name_both_lines(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = sample("Where is my order?", "It was sent.")
    write(
        in_tmp / "train.jsonl",
        first,
        sample("Something else", "Yes."),
        first,
        sample("  where is MY order ", "it was sent"),
        {"messages": [{"content": "Where is my order?", "role": "user"}, first["messages"][1]]},
        first,
    )

    status, lines = check(capsys, "train.jsonl")

    assert status == 1
    assert lines == [
        "train.jsonl:3: duplicate of line 1 (the same row); keep one of them",
        "train.jsonl:4: duplicate of line 1 once case, white space and punctuation are "
        "ignored; keep one of them",
        "train.jsonl:5: duplicate of line 1 once case, white space and punctuation are "
        "ignored; keep one of them",
        "train.jsonl:6: duplicate of line 1 (the same row); keep one of them",
    ]


def test_duplicate_finder_counts_pairs_over_many_rows(tmp_path: Path) -> None:
    with DuplicateFinder(str(tmp_path)) as finder:
        for line in range(1, 50_001):
            exact = (line % 10_000).to_bytes(8, "big")
            finder.add(line, exact, exact)
        found = list(finder.duplicates())

    assert len(found) == 40_000
    assert found[0].line == 10_001
    assert found[0].first == 1
    assert (finder.exact, finder.normalized) == (40_000, 0)
    assert list(tmp_path.iterdir()) == []  # its temporary file is gone


def test_normalize_text_ignores_case_space_and_punctuation_not_words() -> None:
    assert normalize_text("  Where is my ORDER?!\n") == normalize_text("where is my order")
    assert normalize_text("ﬁle № 7") == "file no 7"
    assert normalize_text("Größe") == normalize_text("GRÖSSE")
    assert normalize_text("order 7") != normalize_text("order 8")


def contamination_files(in_tmp: Path) -> None:
    long_prompt = (
        "My invoice for March shows the premium plan although I downgraded to the basic plan "
        "in February, please refund the difference"
    )
    write(
        in_tmp / "train.jsonl",
        sample("Reset my password please", "Done."),
        {
            "messages": [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi!"},
                {"role": "user", "content": "Cancel MY subscription!"},
                {"role": "assistant", "content": "Cancelled."},
            ]
        },
        sample("Hello there. " + long_prompt.replace("March", "April"), "billing"),
    )
    write(
        in_tmp / "eval.jsonl",
        sample("A question nobody trained on", "x"),
        {"input": "cancel my subscription", "expected": "Cancelled."},
        sample(long_prompt, "billing"),
        sample("Reset my password, please.", "Done."),
    )


def test_eval_prompts_found_in_training_exactly_or_by_ngrams(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contamination_files(in_tmp)

    status, lines = check(capsys, "train.jsonl", "--eval", "eval.jsonl")

    assert status == 1
    assert lines == [
        "eval.jsonl:2: the eval prompt also occurs in the training data (train.jsonl:2); "
        "remove it from one of the files",
        "eval.jsonl:3: 71% of the eval prompt's 8-word sequences occur in train.jsonl:3 "
        "(threshold 50%); remove the near-copy from one of the files",
        "eval.jsonl:4: the eval prompt also occurs in the training data (train.jsonl:1); "
        "remove it from one of the files",
    ]


def test_ngram_threshold_and_size_are_options(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contamination_files(in_tmp)

    _, strict = check(capsys, "train.jsonl", "--eval", "eval.jsonl", "--ngram-threshold", "0.8")
    _, small = check(
        capsys, "train.jsonl", "--eval", "eval.jsonl", "--ngram-threshold=0.8", "--ngram-size=3"
    )

    assert [line.split(":")[1] for line in strict] == ["2", "4"]
    assert [line.split(":")[1] for line in small] == ["2", "3", "4"]
    assert "3-word sequences" in small[1]


def test_contamination_index_keeps_the_best_training_row() -> None:
    index = ContaminationIndex(ngram_size=2)
    index.add_prompt(5, "one two three four five")
    index.scan_train_row(1, ["one two three"])
    index.scan_train_row(2, ["zero one two three four"])
    index.scan_train_row(3, ["two three"])

    [found] = index.contaminated(0.5)

    assert (found.eval_line, found.train_line, found.kind, found.overlap) == (5, 2, "ngram", 0.75)


def test_eval_rows_are_checked_as_cases_reads_them(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(in_tmp / "train.jsonl", sample("a"))
    write(
        in_tmp / "eval.jsonl",
        {"id": "x", "input": "first"},
        {"id": "x", "input": "second"},
        {"input": 7},
        {"messages": [USER, REPLY], "expected": "b"},
        messages_of(USER, REPLY, USER),
    )

    status, lines = check(capsys, "train.jsonl", "--eval", "eval.jsonl")

    assert status == 1
    assert lines == [
        "eval.jsonl:2: id 'x' is already used on line 1; give every row a different id",
        'eval.jsonl:3: "input" is a number; give the user message as a string',
        'eval.jsonl:4: row has both "messages" and "expected"; a fine-tuning sample\'s '
        "expected reply is its last assistant message",
        'eval.jsonl:5: the last message is "user"; a fine-tuning sample ends with the '
        "assistant message the model learns",
    ]


def test_json_format_has_findings_files_and_clean(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contamination_files(in_tmp)
    write(in_tmp / "train.jsonl", *(in_tmp / "train.jsonl").read_text().splitlines(), "")

    status = main(["check-data", "train.jsonl", "--eval", "eval.jsonl", "--format=json"])

    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert report["clean"] is False
    assert report["findings"][0] == {
        "path": "train.jsonl",
        "line": 4,
        "rule": "blank-line",
        "message": "blank line; mistral-finetune fails on it (each line must hold one JSON "
        "object): delete it",
        "related": None,
    }
    ngram = report["findings"][2]
    assert (ngram["rule"], ngram["related"], ngram["overlap"]) == (
        "contamination-ngram",
        "train.jsonl:3",
        0.7143,
    )
    assert report["files"] == [
        {
            "path": "train.jsonl",
            "role": "train",
            "lines": 4,
            "valid_rows": 3,
            "invalid_lines": 1,
            "exact_duplicates": 0,
            "normalized_duplicates": 0,
            "contaminated": None,
        },
        {
            "path": "eval.jsonl",
            "role": "eval",
            "lines": 4,
            "valid_rows": 4,
            "invalid_lines": 0,
            "exact_duplicates": 0,
            "normalized_duplicates": 0,
            "contaminated": 3,
        },
    ]


def test_json_format_of_clean_data(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(in_tmp / "train.jsonl", sample("a"))

    assert main(["check-data", "train.jsonl", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["clean"], report["findings"]) == (True, [])


def test_an_empty_file_is_a_finding(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (in_tmp / "train.jsonl").write_bytes(b"")

    assert check(capsys, "train.jsonl") == (
        1,
        ["train.jsonl:1: the file holds no rows; give one JSON object a line"],
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["missing.jsonl"], "missing.jsonl: no such file"),
        (["."], ". is not a file; give a JSONL file"),
        (["train.jsonl", "--eval", "nope.jsonl"], "nope.jsonl: no such file"),
        (["train.jsonl", "--ngram-threshold", "1.5"], "1.5 is not between 0 (excluded) and 1"),
        (["train.jsonl", "--ngram-threshold", "half"], "'half' is not a number"),
        (["train.jsonl", "--ngram-size", "0"], "0 is less than 1"),
        (["train.jsonl", "--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_usage_errors_exit_2_naming_the_problem(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    write(in_tmp / "train.jsonl", sample("a"))

    with pytest.raises(SystemExit) as exited:
        main(["check-data", *args])

    assert exited.value.code == 2
    assert error in capsys.readouterr().err


def test_an_unwritable_temporary_folder_is_a_usage_error(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(in_tmp / "train.jsonl", sample("a"))
    monkeypatch.setattr(tempfile, "tempdir", str(in_tmp / "train.jsonl"))  # a file, not a folder

    with pytest.raises(SystemExit) as exited:
        main(["check-data", "train.jsonl"])

    assert exited.value.code == 2
    assert "set TMPDIR to a writable folder" in capsys.readouterr().err


def test_runs_as_python_m_pytest_llmeval(in_tmp: Path) -> None:
    write(in_tmp / "train.jsonl", sample("a"), sample("a"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}

    done = subprocess.run(
        [sys.executable, "-m", "pytest_llmeval", "check-data", "train.jsonl"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert done.returncode == 1
    assert done.stdout == "train.jsonl:2: duplicate of line 1 (the same row); keep one of them\n"
    assert "1 exact and 0 normalized duplicates: 1 finding" in done.stderr


def test_cases_reports_too_deep_json_as_a_dataset_error(in_tmp: Path) -> None:
    write(in_tmp / "d.jsonl", "[" * 100_000)

    with pytest.raises(DatasetError, match=r"d.jsonl:1: not valid JSON \(nesting too deep"):
        cases("d.jsonl")
