"""Failure clusters: the dominant failure mode first, shared traits named."""

from __future__ import annotations

from pytest_llmeval.report.clusters import failure_clusters, length_bucket
from tests.factories import case_record


def test_the_dominant_failure_mode_is_the_first_cluster() -> None:
    records = [
        *(
            case_record(
                n,
                outcome="failed",
                category="unterminated_json",
                finish_reason="length",
                input_chars=5000,
                tags=["long"],
            )
            for n in range(6)
        ),
        *(
            case_record(n, outcome="failed", category="leading_text", input_chars=50)
            for n in range(6, 8)
        ),
        case_record(8, group="other", outcome="failed", category="no_json_start", input_chars=50),
        *(case_record(n, outcome="passed", category="unterminated_json") for n in range(9, 20)),
    ]

    clusters = failure_clusters(records)

    assert [(c["by"], c["cases"]) for c in clusters] == [
        ({"group": "triage"}, 8),
        (
            {
                "group": "triage",
                "category": "unterminated_json",
                "finish_reason": "length",
                "input_length": "4k-16k",
                "tag": "long",
            },
            6,
        ),
        ({"input_length": "<200"}, 3),
        ({"group": "triage", "category": "leading_text", "input_length": "<200"}, 2),
    ]
    assert clusters[1]["nodeids"] == sorted(records[n]["nodeid"] for n in range(6))


def test_no_failures_no_clusters_and_buckets_read_as_lengths() -> None:
    assert failure_clusters([case_record(0)]) == []
    # Errors are infrastructure or test code, not a failure mode of the model.
    assert failure_clusters([case_record(n, outcome="error") for n in range(3)]) == []
    assert [length_bucket(n) for n in (0, 199, 200, 3999, 4000, 20000)] == [
        "<200",
        "<200",
        "200-1k",
        "1k-4k",
        "4k-16k",
        ">16k",
    ]


def test_a_finish_reason_of_stop_is_no_trait() -> None:
    records = [case_record(n, outcome="failed", category="valid") for n in range(3)]
    (cluster,) = failure_clusters(records)
    assert "finish_reason" not in cluster["by"]
