"""The session's case records on disk: read back exactly, in the order asked, never lost."""

from __future__ import annotations

import json
import math
from pathlib import Path

from pytest_llmeval.case_record import CaseRecord
from pytest_llmeval.report.build import build_report
from pytest_llmeval.report.render import json_chunks, json_text
from pytest_llmeval.report.usage_tally import BATCH, UsageTally
from pytest_llmeval.session.record_spool import RecordSpool
from tests.factories import case_record, gate_settings
from tests.unit.test_renderers import RUN


def records(count: int) -> list[CaseRecord]:
    made = []
    for index in range(count):
        record = case_record(index, outcome="failed" if index % 3 == 0 else "passed")
        record["request"] = [
            {"role": "system", "content": "Answer in JSON."},
            {"role": "user", "content": f"ticket {index}"},
        ]
        record["output"] = {"text": f"answer {index}", "length": 8}
        made.append(record)
    return made


def test_records_come_back_equal_in_arrival_order_and_in_any_order_asked(tmp_path: Path) -> None:
    spool = RecordSpool(str(tmp_path))
    written = records(50)
    for record in written:
        spool.append(record)
    assert len(spool) == 50 and spool.not_passed == 17
    assert list(spool) == written
    backwards = spool.ordered(lambda nodeid: -int(nodeid.rpartition("-")[2].rstrip("]")))
    assert list(backwards) == written[::-1]
    assert list(backwards) == written[::-1]  # a second pass reads them again
    assert [path.name for path in tmp_path.iterdir()] == []  # the file has no name to leave


def test_what_messagepack_cannot_hold_comes_back_exactly(tmp_path: Path) -> None:
    spool = RecordSpool(str(tmp_path))
    odd = case_record(0)
    odd["scores"] = {"nan": math.nan, "big": float(2**70)}
    odd["output"] = {"text": "broken \ud800 surrogate", "length": 18}
    odd["input_chars"] = 2**70
    spool.append(odd)
    (back,) = spool
    assert math.isnan(back["scores"]["nan"]) and back["scores"]["big"] == 2.0**70
    assert back["output"] == odd["output"]
    assert back["input_chars"] == 2**70


def test_a_spool_that_cannot_write_keeps_every_record_in_memory(tmp_path: Path) -> None:
    spool = RecordSpool(str(tmp_path / "no such folder"))
    written = records(5)
    for record in written:
        spool.append(record)
    assert list(spool) == written
    assert spool.problem is not None and "no such folder" in spool.problem


def test_the_turns_that_open_many_requests_are_one_message_again_once_read_back(
    tmp_path: Path,
) -> None:
    spool = RecordSpool(str(tmp_path))
    written = records(3)
    for record in written:
        spool.append(record)
    first, second, third = spool
    assert first["request"][0] is second["request"][0] is third["request"][0]
    assert [record["request"] for record in (first, second, third)] == [
        record["request"] for record in written
    ]
    assert first["request"][1] is not second["request"][1]


def test_the_report_of_spooled_records_is_the_report_of_the_list(tmp_path: Path) -> None:
    written = records(40)
    spool = RecordSpool(str(tmp_path))
    for record in written:
        spool.append(record)
    settings = gate_settings()
    from_list = json.loads(json_text(build_report(written, RUN, settings)))
    from_spool = json.loads(json_text(build_report(spool.ordered(), RUN, settings)))
    assert from_spool == from_list


def test_the_json_report_in_pieces_is_the_same_document_at_any_piece_size() -> None:
    report = build_report(records(7), RUN, gate_settings())
    whole = json_text(report)
    for size in (1, 2, 3, 7, 100):
        pieces = list(json_chunks(report, cases_per_chunk=size))
        assert "".join(pieces) == whole
        # Every piece ends between two values: each one can be scrubbed on its own.
        assert all(piece.endswith("\n") for piece in pieces)
    assert len(json.loads(whole)["cases"]) == 7


def test_usage_summed_in_batches_equals_the_sum_of_every_case() -> None:
    tally = UsageTally()
    count = BATCH * 2 + 7
    for index in range(count):
        usage = {
            "calls": 1,
            "prompt_tokens": index,
            "completion_tokens": 2,
            "retries": index % 2,
            "latency_s": 0.1,
            "store_hits": 1,
            "store_misses": 0,
            "streamed": 0,
            "by_model": {"mistral-small-2506": [index, 2]},
        }
        if index == BATCH + 3:  # one case's figures missing or unusable, mid-batch
            usage = {"calls": 1, "prompt_tokens": None, "latency_s": math.inf}
        tally.add(usage)
    summary = tally.summary()
    expected_prompt = sum(range(count)) - (BATCH + 3)
    assert summary.calls == count
    assert summary.prompt_tokens == expected_prompt
    assert summary.retries == sum(index % 2 for index in range(count)) - (BATCH + 3) % 2
    assert summary.latency_s == math.fsum([0.1] * (count - 1))
    assert summary.by_model == {"mistral-small-2506": (expected_prompt, 2 * (count - 1))}


def test_a_record_without_a_node_id_comes_back_as_it_went(tmp_path: Path) -> None:
    spool = RecordSpool(str(tmp_path))
    odd = case_record(0)
    del odd["nodeid"]  # type: ignore[misc]
    spool.append(odd)
    spool.append(case_record(1))
    first, second = spool
    assert "nodeid" not in first and second["nodeid"].endswith("[case-1]")
