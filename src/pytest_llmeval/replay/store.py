"""`ReplayStore`: recorded responses on disk, one file per request and sample index."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval.errors import ReplayMissError, SecretLeakError, StoreIntegrityError
from pytest_llmeval.replay.explain import MissExplainer
from pytest_llmeval.replay.file_guard import linked_folder
from pytest_llmeval.replay.keys import StoreRequest, endpoint_slug, recording_name
from pytest_llmeval.replay.recording import (
    CorruptRecording,
    StoredResponse,
    UntrustedRecording,
    read_recording,
    recording_text,
    request_mismatch,
    request_part,
    response_part,
    stored_response,
)
from pytest_llmeval.replay.signing import RecordingSigner, RecordingVerifier, answer_digest
from pytest_llmeval.support.atomic import write_atomic
from pytest_llmeval.support.redact import redact, usable_secrets


class ReplayStore:
    """Recorded responses under `root`, one JSON file per request and sample index.

    Layout: `<root>/<endpoint-slug>/<digest[:2]>/<digest>-<sample>.json`, where the slug is
    the endpoint path made file-name safe (`v1-chat-completions`) and the digest is
    `StoreRequest.digest`. Files are written atomically, with sorted keys and indentation,
    so parallel writers never leave a partial file and recordings diff well in git.

    With a `signer` (the trusted recording environment's private key) every recording is
    signed; with a `verifier` (`llm_store_public_key`) every recording read is checked
    first, and one that is not vouched for raises `StoreIntegrityError`, never answers.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        secrets: Sequence[str] = (),
        signer: RecordingSigner | None = None,
        verifier: RecordingVerifier | None = None,
    ) -> None:
        self.root = Path(root)
        self._root_text = str(self.root)
        self._secrets = tuple(usable_secrets(secrets))
        self._explainer = MissExplainer(self.root)
        self.signer = signer
        self.verifier = verifier
        self._trusted_folders: set[str] = set()  # checked for symbolic links once each

    def key(self, request: StoreRequest, sample: int = 0) -> str:
        """The request's digest and sample index, e.g. `3fa2…c9-0`: the recording's name."""
        return recording_name(request, sample)

    def file_for(self, request: StoreRequest, sample: int = 0) -> Path:
        """Where the recording of `request`'s `sample`-th identical call lives."""
        return self._folder(request) / f"{self.key(request, sample)}.json"

    def load(self, request: StoreRequest, sample: int = 0) -> StoredResponse | None:
        """The recorded response, or None when there is none or its file is corrupt.

        A corrupt file is left in place (`explain_miss` names it); recording again replaces it.
        """
        # A plain string path: a replayed session builds one per call, and pathlib's
        # joining costs more than reading the file.
        name = os.path.join(
            self._root_text,
            endpoint_slug(request.path),
            request.digest[:2],
            f"{self.key(request, sample)}.json",
        )
        try:
            document = read_recording(name)
        except FileNotFoundError:
            return None
        except UntrustedRecording as error:
            raise self.integrity_error(name, str(error)) from None
        except CorruptRecording:
            return None
        folder = os.path.dirname(name)
        if folder not in self._trusted_folders:
            linked = linked_folder(self._root_text, folder)
            if linked is not None:
                raise self.integrity_error(name, f"its folder {linked} is a symbolic link")
            self._trusted_folders.add(folder)
        mismatch = request_mismatch(document, request)
        if mismatch is not None:
            raise self.integrity_error(name, mismatch)
        answer = answer_digest(document["response"])
        if self.verifier is not None:
            problem = self.verifier.problem(
                request.digest, sample, answer, document.get("signature")
            )
            if problem is not None:
                raise self.integrity_error(name, problem)
        return stored_response(document, answer)

    def integrity_error(self, file: str, problem: str) -> StoreIntegrityError:
        """The error for a recording the store refuses to trust: never replayed, blocking."""
        return StoreIntegrityError(Path(file), shown_file(file), problem)

    def save(
        self,
        request: StoreRequest,
        sample: int,
        status: int,
        content_type: str,
        body: bytes,
    ) -> Path:
        """Record a final 2xx response; returns the file written.

        Raises `ValueError` for any other status, and `SecretLeakError` (writing nothing)
        when a secret appears in the request or the response.
        """
        if not 200 <= status < 300:
            raise ValueError(f"only 2xx responses are recorded, not {status}")
        target = self.file_for(request, sample)
        recorded_request = request_part(request)
        recorded_response = response_part(status, content_type, body)
        self._refuse_secrets(request, recorded_request, "request", target)
        self._refuse_secrets(request, recorded_response, "response body", target, raw=body)
        signature = None
        if self.signer is not None:
            answer = answer_digest(recorded_response)
            signature = self.signer.sign(request.digest, sample, answer).to_dict()
        write_atomic(target, recording_text(recorded_request, sample, recorded_response, signature))
        self._explainer.saved(request, target)
        return target

    def explain_miss(self, request: StoreRequest, sample: int = 0) -> str:
        """One line on why `request` has no recording, from the nearest one of its endpoint.

        e.g. `temperature 0.7 != 0.0 (recorded); messages[1].content differs: 'Classify th…'
        != 'Classify ti…' (recorded) (nearest recording: v1-chat-completions/3f/3f…-0.json)`.
        """
        reason = self._explainer.explain(
            request,
            sample,
            self.file_for(request, sample),
            self.root / endpoint_slug(request.path),
        )
        return redact(reason, self._secrets)

    def miss_error(self, request: StoreRequest, sample: int = 0) -> ReplayMissError:
        """The error for a miss in `--llm-record-mode=none`, with `explain_miss`'s reason."""
        message = (
            f"no recorded response for {request.describe()}, sample {sample}, in {self.root}: "
            f"{self.explain_miss(request, sample)}; "
            "record it with --llm-record-mode=new_episodes"
        )
        return ReplayMissError(message, endpoint=request.path, model=request.model)

    def _folder(self, request: StoreRequest) -> Path:
        return self.root / endpoint_slug(request.path) / request.digest[:2]

    def _refuse_secrets(
        self,
        request: StoreRequest,
        part: Mapping[str, Any],
        where: str,
        target: Path,
        raw: bytes = b"",
    ) -> None:
        text = json.dumps(part, sort_keys=True, ensure_ascii=False)
        for secret in self._secrets:
            escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
            if secret in text or escaped in text or secret.encode("utf-8") in raw:
                raise SecretLeakError(
                    f"refusing to record {request.describe()}: the {where} contains the API "
                    f"key (or the store's signing key); nothing was written to {target}"
                )


def shown_file(file: str | os.PathLike[str]) -> str:
    """A recording's path as a report names it: relative to the working folder (where CI
    and a reviewer stand) when it is inside it, with forward slashes."""
    path = Path(file)
    try:
        return path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()
