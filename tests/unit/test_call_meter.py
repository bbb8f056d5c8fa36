"""The live figures of the progress line: calls done and in flight, tokens, cost, ETA."""

from __future__ import annotations

from pytest_llmeval.calls.meter import CallMeter, MeterReading, progress_text


def test_the_meter_counts_calls_tokens_and_the_cost_of_live_answers_only() -> None:
    meter = CallMeter(lambda model, prompt, completion: (prompt + completion) / 1000)
    meter.started()
    meter.started()
    meter.finished()
    meter.tokens("m", 100, 50, live=True)
    meter.replayed()
    meter.tokens("m", 1000, 1000, live=False)
    assert meter.reading() == MeterReading(
        done=2, in_flight=1, tokens=2150, cost_usd=0.15, replayed=1
    )


def test_a_call_that_ends_twice_never_leaves_a_negative_count_in_flight() -> None:
    meter = CallMeter()
    meter.finished()
    assert meter.reading().in_flight == 0


def test_the_progress_text_has_every_figure_and_an_eta_once_a_case_finished() -> None:
    reading = MeterReading(done=30, in_flight=8, tokens=4210, cost_usd=0.0031, replayed=0)
    text = progress_text(reading, cases_done=5, cases_total=25, elapsed_s=2.0)
    assert text == (
        "llmeval: 5/25 cases, ETA 8 s, 8 calls in flight, 30 done, 4,210 tokens, est. $0.0031"
    )
    assert "ETA" not in progress_text(reading, cases_done=0, cases_total=25, elapsed_s=2.0)
    long = progress_text(reading, cases_done=1, cases_total=100, elapsed_s=10.0)
    assert "ETA 16 min 30 s, " in long
