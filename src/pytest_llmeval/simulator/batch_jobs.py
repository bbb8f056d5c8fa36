"""The simulator's batch jobs over time: queued, running line by line, then ended, with faults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The states a job can end in (the SDK's BatchJobStatus).
END_STATES = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
# The share of a slow job's time spent queued before its first line runs.
QUEUED_SHARE = 0.1


@dataclass(frozen=True)
class BatchFaults:
    """How the simulator's batch jobs misbehave (`Simulator.set_batch_faults`).

    `duration_s`: a slow job, QUEUED and then RUNNING with its lines completing evenly, ended
    after this many seconds (0: ended when created). `status`: the state a job ends in; a
    job that does not end in SUCCESS has no output file (its lines are all failed). Lines
    fail one by one through the script's rules: a rule's `status` fails the lines it matches.
    """

    duration_s: float = 0.0
    status: str = "SUCCESS"

    def __post_init__(self) -> None:
        if self.duration_s < 0:
            raise ValueError("duration_s must be 0 or more")
        if self.status not in END_STATES:
            raise ValueError(f"status must be one of {', '.join(END_STATES)}, not {self.status!r}")


@dataclass
class SimulatedJob:
    """A job as created: its final figures and files, shown as they are at a given time."""

    final: dict[str, Any]  # the job's JSON once it has ended
    created: float  # time.monotonic() at creation

    def view(self, now: float, duration: float) -> dict[str, Any]:
        """The job's JSON at `now`, for a job that takes `duration` seconds (the current
        `BatchFaults.duration_s`: setting it to 0 ends every running job at once)."""
        job = dict(self.final)
        elapsed = now - self.created
        if duration <= 0 or elapsed >= duration:
            return job
        total = int(job["total_requests"])
        share = max(0.0, (elapsed / duration - QUEUED_SHARE) / (1 - QUEUED_SHARE))
        done = min(total, int(total * share))
        failed = min(int(self.final["failed_requests"]), done)
        job.update(
            status="QUEUED" if elapsed < duration * QUEUED_SHARE else "RUNNING",
            completed_requests=done,
            succeeded_requests=done - failed,
            failed_requests=failed,
            output_file=None,
            error_file=None,
            completed_at=None,
            errors=[],
        )
        if job["status"] == "QUEUED":
            job["started_at"] = None
        return job


def ended_job(job: dict[str, Any], faults: BatchFaults) -> dict[str, Any]:
    """The final JSON of a job whose lines were answered, as `faults.status` ends it."""
    if faults.status == "SUCCESS":
        return job
    total = int(job["total_requests"])
    return {
        **job,
        "status": faults.status,
        "output_file": None,
        "error_file": None,
        "completed_requests": total if faults.status == "FAILED" else 0,
        "succeeded_requests": 0,
        "failed_requests": total if faults.status == "FAILED" else 0,
        "errors": [{"message": f"Simulated batch job ending: {faults.status}", "count": 1}],
    }
