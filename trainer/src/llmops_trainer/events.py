"""TrainerEvent: the JSON lines the trainer prints (mirror of TrainerEvent in
controller/backends/training/trainer-contract.ts), and the sink that prints and posts them.

Every event is one line on stdout, a JSON object with "llmops": 1. In a pod the controller may
also inject LLMOPS_PROGRESS_URL (with a CA file and a token file): each event is then POSTed
there too, from a background thread, so a slow or broken endpoint never slows or stops training.
"""

from __future__ import annotations

import json
import math
import os
import queue
import ssl
import sys
import threading
import urllib.request
from collections.abc import Mapping
from typing import IO, Any, Literal, NotRequired, TypedDict

from llmops_trainer.errors import TrainerFailure

EventName = Literal["started", "progress", "checkpoint", "completed", "failed"]
EVENT_NAMES: tuple[EventName, ...] = ("started", "progress", "checkpoint", "completed", "failed")


class StartedEvent(TypedDict):
    llmops: Literal[1]
    event: Literal["started"]
    runId: str
    attempt: int
    totalSteps: int
    resumedFromStep: NotRequired[int]


class ProgressEvent(TypedDict):
    llmops: Literal[1]
    event: Literal["progress"]
    step: int
    totalSteps: int
    epoch: float
    loss: NotRequired[float]
    evalLoss: NotRequired[float]
    learningRate: NotRequired[float]


class CheckpointEvent(TypedDict):
    llmops: Literal[1]
    event: Literal["checkpoint"]
    step: int
    path: str


class CompletedOutput(TypedDict):
    path: str
    repo: NotRequired[str]
    revision: NotRequired[str]


class CompletedMetrics(TypedDict):
    steps: int
    seconds: float
    trainLoss: NotRequired[float]
    evalLoss: NotRequired[float]


class CompletedMlflow(TypedDict):
    runId: str
    modelVersion: NotRequired[str]


class CompletedEvent(TypedDict):
    llmops: Literal[1]
    event: Literal["completed"]
    output: CompletedOutput
    metrics: CompletedMetrics
    mlflow: NotRequired[CompletedMlflow]


class FailedEvent(TypedDict):
    llmops: Literal[1]
    event: Literal["failed"]
    reason: str
    message: str
    retryable: bool
    field: NotRequired[str]


TrainerEvent = StartedEvent | ProgressEvent | CheckpointEvent | CompletedEvent | FailedEvent


def started(
    run_id: str, attempt: int, total_steps: int, resumed_from_step: int | None
) -> StartedEvent:
    event: StartedEvent = {
        "llmops": 1,
        "event": "started",
        "runId": run_id,
        "attempt": attempt,
        "totalSteps": total_steps,
    }
    if resumed_from_step is not None:
        event["resumedFromStep"] = resumed_from_step
    return event


def progress(
    step: int,
    total_steps: int,
    epoch: float,
    *,
    loss: float | None = None,
    eval_loss: float | None = None,
    learning_rate: float | None = None,
) -> ProgressEvent:
    event: ProgressEvent = {
        "llmops": 1,
        "event": "progress",
        "step": step,
        "totalSteps": total_steps,
        "epoch": round(epoch, 4),
    }
    # NaN and infinity are not JSON: a diverged loss is left out rather than breaking the line.
    if _finite(loss):
        event["loss"] = float(loss)  # type: ignore[arg-type]
    if _finite(eval_loss):
        event["evalLoss"] = float(eval_loss)  # type: ignore[arg-type]
    if _finite(learning_rate):
        event["learningRate"] = float(learning_rate)  # type: ignore[arg-type]
    return event


def checkpoint(step: int, path: str) -> CheckpointEvent:
    return {"llmops": 1, "event": "checkpoint", "step": step, "path": path}


def completed(
    output: CompletedOutput, metrics: CompletedMetrics, mlflow: CompletedMlflow | None
) -> CompletedEvent:
    event: CompletedEvent = {
        "llmops": 1,
        "event": "completed",
        "output": output,
        "metrics": metrics,
    }
    if mlflow is not None:
        event["mlflow"] = mlflow
    return event


def failed(failure: TrainerFailure) -> FailedEvent:
    event: FailedEvent = {
        "llmops": 1,
        "event": "failed",
        "reason": failure.reason,
        "message": failure.message,
        "retryable": failure.retryable,
    }
    if failure.field:
        event["field"] = failure.field
    return event


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def encode(event: Mapping[str, Any]) -> str:
    """One line, no NaN (allow_nan=False raises instead of writing invalid JSON)."""
    return json.dumps(event, separators=(",", ":"), allow_nan=False)


class ProgressPoster:
    """POSTs events to LLMOPS_PROGRESS_URL with the bearer token from LLMOPS_PROGRESS_TOKEN_FILE,
    verifying TLS with LLMOPS_PROGRESS_CA_FILE. Failures are logged to stderr, never raised."""

    def __init__(
        self,
        url: str,
        *,
        token_file: str | None,
        ca_file: str | None,
        timeout_s: float = 5.0,
        log: IO[str] = sys.stderr,
    ) -> None:
        self.url = url
        self.token_file = token_file
        self.timeout_s = timeout_s
        self.log = log
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="llmops-progress", daemon=True)
        self.thread.start()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ProgressPoster | None:
        url = env.get("LLMOPS_PROGRESS_URL")
        if not url:
            return None
        return cls(
            url,
            token_file=env.get("LLMOPS_PROGRESS_TOKEN_FILE"),
            ca_file=env.get("LLMOPS_PROGRESS_CA_FILE"),
        )

    def post(self, line: str) -> None:
        self.queue.put(line)

    def close(self, timeout_s: float = 10.0) -> None:
        """Sends what is queued (waiting at most timeout_s), then stops the thread."""
        self.queue.put(None)
        self.thread.join(timeout_s)

    def _run(self) -> None:
        while (line := self.queue.get()) is not None:
            try:
                self._send(line)
            except Exception as err:
                print(f"llmops-train: progress POST to {self.url} failed: {err}", file=self.log)

    def _send(self, line: str) -> None:
        headers = {"Content-Type": "application/json"}
        if self.token_file:
            # Re-read each time: a projected ServiceAccount token is rotated in place.
            with open(self.token_file, encoding="utf-8") as f:
                headers["Authorization"] = f"Bearer {f.read().strip()}"
        request = urllib.request.Request(
            self.url, data=line.encode("utf-8"), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s, context=self.context) as resp:
            resp.read()


class EventSink:
    """Prints each event as one stdout line (always) and posts it when a poster is configured."""

    def __init__(self, out: IO[str] = sys.stdout, poster: ProgressPoster | None = None) -> None:
        self.out = out
        self.poster = poster
        self.lock = threading.Lock()

    def emit(self, event: TrainerEvent) -> None:
        line = encode(event)
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()
        if self.poster is not None:
            self.poster.post(line)

    def close(self) -> None:
        if self.poster is not None:
            self.poster.close()
