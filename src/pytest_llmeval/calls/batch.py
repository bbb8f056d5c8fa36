"""`--llm-batch`: the first requests of the selected cases answered by one Mistral batch job,
written into the store as recordings so that the tests then replay them.

One JSONL input file (`custom_id` = the store's request key, `digest-sample`), uploaded with
`files.upload(purpose="batch")`, run by `batch.jobs.create(endpoint="/v1/chat/completions")`,
polled with `batch.jobs.get` until it ends, its output read with `files.download`. Each
answer the SDK's `ChatCompletionResponse` accepts becomes the recording of its request, as
a live call's would; a line that failed is that case's infrastructure error, no other's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmeval.errors import LLMAPIError
from pytest_llmeval.replay.keys import StoreRequest, canonical_json, recording_name
from pytest_llmeval.replay.record_mode import RecordMode

if TYPE_CHECKING:
    from mistralai.client import Mistral

    from pytest_llmeval.calls.endpoint import Endpoint

CHAT_PATH = "/v1/chat/completions"
# A job in one of these states changes no more (the SDK's BatchJobStatus).
FINAL_STATES = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
# Polling: the first wait, and the longest (waits double in between).
FIRST_POLL_S = 0.25
LONGEST_POLL_S = 10.0


@dataclass(frozen=True)
class BatchRequest:
    """One line of the batch: a case's first request, as the store keys it."""

    request: StoreRequest
    sample: int = 0

    @property
    def custom_id(self) -> str:
        """The store's key of the request, `digest-sample`: the line's `custom_id`."""
        return recording_name(self.request, self.sample)


def distinct(requests: Iterable[BatchRequest]) -> list[BatchRequest]:
    """`requests` without repeats (cases asking the same thing share one line), in order."""
    seen: dict[str, BatchRequest] = {}
    for request in requests:
        seen.setdefault(request.custom_id, request)
    return list(seen.values())


def input_file(requests: Sequence[BatchRequest]) -> bytes:
    """The batch's JSONL input: `{"custom_id", "body"}` a line; the model is the job's."""
    lines = []
    for line in requests:
        body = {key: value for key, value in (line.request.body or {}).items() if key != "model"}
        lines.append(canonical_json({"custom_id": line.custom_id, "body": body}))
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


@dataclass(frozen=True)
class LineResult:
    """One line of a job's output: the answer's body, or why there is none."""

    custom_id: str
    body: dict[str, Any] | None
    problem: str | None = None


def read_output(text: str) -> dict[str, LineResult]:
    """The lines of a job's output (or error) file by `custom_id`; unreadable lines skipped."""
    results: dict[str, LineResult] = {}
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            continue
        custom_id = line["custom_id"]
        response = line.get("response")
        if not isinstance(response, dict):
            response = {}
        status, body = response.get("status_code"), response.get("body")
        if line.get("error") or status != 200 or not isinstance(body, dict):
            results[custom_id] = LineResult(custom_id, None, _line_problem(line, status, body))
        else:
            results[custom_id] = LineResult(custom_id, body)
    return results


def _line_problem(line: Mapping[str, Any], status: object, body: object) -> str:
    error = line.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    if not message and isinstance(body, dict):
        message = body.get("message") or body.get("detail")
    said = f": {str(message)[:200]}" if message else ""
    return (
        f"its batch line failed with HTTP {status}{said}"
        if status
        else f"its batch line failed{said}"
    )


@dataclass
class BatchSummary:
    """`run.batch` of the report: the job, its requests, what came back, how long it took."""

    job_id: str | None
    status: str | None
    requests: int
    succeeded: int
    failed: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "requests": self.requests,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class BatchOutcome:
    """What the batch did: its summary, and the problem of each request that failed by key."""

    summary: BatchSummary
    failed: dict[str, str] = field(default_factory=dict)  # custom_id -> why, for the case


class BatchInterrupted(Exception):
    """The wait for a job was interrupted; the job goes on and can be resumed by its id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"batch job {job_id} is still running on the server; resume it with"
            f" --llm-batch --llm-batch-job={job_id}"
        )
        self.job_id = job_id


class BatchRunner:
    """Runs one batch job through the endpoint's client and records its answers."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        progress: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.progress = progress
        self.clock = clock
        self.sleep = sleep

    def pending(self, requests: Sequence[BatchRequest]) -> list[BatchRequest]:
        """The requests the store cannot answer yet (all of them in record mode `all`)."""
        unique = distinct(requests)
        if self.endpoint.replayer.mode is RecordMode.ALL:
            return unique
        store = self.endpoint.store
        return [line for line in unique if store.load(line.request, line.sample) is None]

    def run(
        self, requests: Sequence[BatchRequest], model: str, job_id: str | None = None
    ) -> BatchOutcome:
        """Sends the requests the store lacks as one job (or waits for `job_id`), records
        every answer; `BatchInterrupted` on Ctrl-C while waiting."""
        started = self.clock()
        lines = self.pending(requests) if job_id is None else distinct(requests)
        if job_id is None and not lines:
            return BatchOutcome(BatchSummary(None, None, 0, 0, 0, 0.0))
        try:
            if job_id is None:
                job_id = self._create(lines, model)
            job = self._wait(job_id, started)
        except LLMAPIError as error:
            # The job could not be made or read: every one of its requests fails with it.
            why = f"the batch job failed: {error}"
            return BatchOutcome(
                BatchSummary(job_id, None, len(lines), 0, len(lines), self.clock() - started),
                {line.custom_id: why for line in lines},
            )
        status = str(job.get("status"))
        results: dict[str, LineResult] = {}
        for file_id in (job.get("output_file"), job.get("error_file")):
            if isinstance(file_id, str) and file_id:
                results = {**read_output(self._download(file_id)), **results}
        failed: dict[str, str] = {}
        succeeded = 0
        for line in lines:
            result = results.get(line.custom_id)
            problem = self._record(line, result, model) if result is not None else None
            if result is None:
                problem = _no_answer(job_id, status, job.get("errors"))
            if problem is None:
                succeeded += 1
            else:
                failed[line.custom_id] = problem
        summary = BatchSummary(
            job_id, status, len(lines), succeeded, len(failed), self.clock() - started
        )
        return BatchOutcome(summary, failed)

    def _record(self, line: BatchRequest, result: LineResult, model: str) -> str | None:
        """Saves an answer the SDK accepts as the request's recording; else why not."""
        if result.body is None:
            return result.problem or "its batch line failed"
        from mistralai.client import models

        try:
            models.ChatCompletionResponse.model_validate(result.body)
        except ValueError as error:
            first = (str(error).splitlines() or ["invalid"])[0][:200]
            return f"its batch answer is not a chat completion the Mistral SDK accepts: {first}"
        body = json.dumps(result.body, ensure_ascii=False).encode("utf-8")
        try:
            self.endpoint.store.save(line.request, line.sample, 200, "application/json", body)
        except (OSError, ValueError) as error:
            return f"its batch answer could not be recorded: {error}"
        return None

    # -- the SDK calls ------------------------------------------------------------------------

    def _call(self, call: Callable[[Mistral], Any], path: str, model: str | None) -> Any:
        return self.endpoint.submit(call, recorder=None, endpoint=path, model=model).result()

    def _create(self, lines: Sequence[BatchRequest], model: str) -> str:
        data = input_file(lines)

        async def upload(client: Mistral) -> str:
            uploaded = await client.files.upload_async(
                file={"file_name": "llmeval-batch.jsonl", "content": data}, purpose="batch"
            )
            return uploaded.id

        file_id: str = self._call(upload, "/v1/files", None)

        async def create(client: Mistral) -> str:
            job = await client.batch.jobs.create_async(
                input_files=[file_id],
                model=model,
                endpoint="/v1/chat/completions",
                metadata={"source": "pytest-llmeval"},
            )
            return job.id

        job_id: str = self._call(create, "/v1/batch/jobs", model)
        self._say(f"llmeval: batch job {job_id}: {len(lines)} requests sent")
        return job_id

    def _get(self, job_id: str) -> dict[str, Any]:
        async def get(client: Mistral) -> dict[str, Any]:
            job = await client.batch.jobs.get_async(job_id=job_id)
            data: dict[str, Any] = job.model_dump(mode="json")
            return data

        result: dict[str, Any] = self._call(get, f"/v1/batch/jobs/{job_id}", None)
        return result

    def _wait(self, job_id: str, started: float) -> dict[str, Any]:
        """Polls the job until it ends, saying its progress when it changes."""
        wait = FIRST_POLL_S
        said: tuple[Any, ...] = ()
        try:
            while True:
                job = self._get(job_id)
                status = str(job.get("status"))
                shown = (status, job.get("completed_requests"), job.get("failed_requests"))
                if shown != said:
                    said = shown
                    self._say(_progress_line(job_id, job, self.clock() - started))
                if status in FINAL_STATES:
                    return job
                self.sleep(wait)
                wait = min(wait * 2, LONGEST_POLL_S)
        except KeyboardInterrupt:
            raise BatchInterrupted(job_id) from None

    def _download(self, file_id: str) -> str:
        async def download(client: Mistral) -> bytes:
            response = await client.files.download_async(file_id=file_id)
            try:
                return await response.aread()
            finally:
                await response.aclose()

        data: bytes = self._call(download, f"/v1/files/{file_id}/content", None)
        return data.decode("utf-8", "replace")

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)


def run_once(lock: Path, run_id: str | None, run: Callable[[], BatchOutcome]) -> BatchOutcome:
    """`run()` once per test run, however many processes ask (xdist's workers all do).

    The first to take the lock on `lock` (a file beside the store) runs the batch and leaves
    which requests failed there, under `run_id` (xdist's `testrunuid`); the others then
    read that instead of sending the requests the batch could not answer once more. Without
    a `run_id` (no xdist) or without POSIX locks, `run()` runs as it is.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one process runs its own batch
        return run()
    if run_id is None:
        return run()
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        handle.seek(0)
        try:
            saved = json.loads(handle.read() or "null")
        except ValueError:
            saved = None
        if isinstance(saved, dict) and saved.get("run") == run_id:
            failed = saved.get("failed")
            return BatchOutcome(
                BatchSummary(saved.get("job_id"), saved.get("status"), 0, 0, 0, 0.0),
                dict(failed) if isinstance(failed, dict) else {},
            )
        outcome = run()
        handle.seek(0)
        handle.truncate()
        summary = outcome.summary
        handle.write(
            json.dumps(
                {
                    "run": run_id,
                    "job_id": summary.job_id,
                    "status": summary.status,
                    "failed": outcome.failed,
                }
            )
        )
        return outcome


def _no_answer(job_id: str, status: str, errors: object) -> str:
    """Why a request of a job has no answer: the job ended without one."""
    problem = f"batch job {job_id} ended {status} without an answer to it"
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        problem += f" ({str(errors[0].get('message'))[:200]})"
    return problem


def _progress_line(job_id: str, job: Mapping[str, Any], elapsed: float) -> str:
    """`llmeval: batch job ID RUNNING: 120/200 done, 2 failed, 14s`."""
    total = job.get("total_requests") or 0
    done = job.get("completed_requests") or 0
    failed = job.get("failed_requests") or 0
    return (
        f"llmeval: batch job {job_id} {job.get('status')}: {done}/{total} done,"
        f" {failed} failed, {elapsed:.0f}s"
    )
