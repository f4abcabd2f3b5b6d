"""Event lines: the builders write exactly the lines of the shared fixture (which the TypeScript
side parses too), one JSON object per line with "llmops": 1, never NaN; the progress POST never
stops the stdout lines."""

from __future__ import annotations

import io
import json
import math
import socket

from llmops_trainer import events
from llmops_trainer.errors import PERMANENT_REASONS, TrainerFailure

from .conftest import FIXTURES, REPO


def built_events() -> list[events.TrainerEvent]:
    return [
        events.started("3f9c2a7d1e5b", 2, 300, 200),
        events.progress(210, 300, 2.1, loss=0.4321, learning_rate=0.0001),
        events.progress(250, 300, 2.5, eval_loss=0.5),
        events.checkpoint(250, "/var/run/llmops/output/3f9c2a7d1e5b/checkpoints/checkpoint-250"),
        events.completed(
            {
                "path": "/var/run/llmops/output/3f9c2a7d1e5b",
                "repo": "acme/support-triage-lora",
                "revision": "a3f1c0de5b7e9f2d4c6b8a0e1f3d5c7b9a2e4f60",
            },
            {"steps": 300, "seconds": 5400.5, "trainLoss": 0.41, "evalLoss": 0.5},
            {"runId": "9f8e7d6c5b4a", "modelVersion": "3"},
        ),
        events.failed(
            TrainerFailure(
                "DatasetFormat",
                "dataset /var/run/llmops/dataset/dataset.jsonl line 12: field messages is missing",
                field="spec.dataset.format",
            )
        ),
        events.failed(TrainerFailure("OutOfMemory", "the GPU ran out of memory")),
    ]


def test_the_builders_write_the_fixture_lines_exactly() -> None:
    fixture_lines = (FIXTURES / "trainer-events.jsonl").read_text().splitlines()
    assert [events.encode(e) for e in built_events()] == fixture_lines


def test_every_line_is_one_json_object_marked_llmops_1() -> None:
    for line in (FIXTURES / "trainer-events.jsonl").read_text().splitlines():
        value = json.loads(line)
        assert value["llmops"] == 1
        assert value["event"] in events.EVENT_NAMES
        assert "\n" not in line


def test_a_diverged_loss_is_left_out_rather_than_written_as_nan() -> None:
    event = events.progress(3, 10, 0.3, loss=math.nan, eval_loss=math.inf, learning_rate=0.1)
    line = events.encode(event)
    assert "loss" not in json.loads(line)
    assert "evalLoss" not in json.loads(line)
    assert json.loads(line)["learningRate"] == 0.1


def test_permanent_reasons_match_the_typescript_contract() -> None:
    contract = (REPO / "controller/backends/training/trainer-contract.ts").read_text()
    block = contract.split("permanentTrainerReasons = new Set([", 1)[1].split("])", 1)[0]
    listed = {part.strip().strip('"') for part in block.split(",") if part.strip()}
    assert listed == PERMANENT_REASONS
    assert events.failed(TrainerFailure("InvalidConfig", "x"))["retryable"] is False
    assert events.failed(TrainerFailure("Terminated", "x"))["retryable"] is True


def test_a_failed_post_is_logged_and_the_line_is_still_printed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    out, log = io.StringIO(), io.StringIO()
    poster = events.ProgressPoster(
        f"http://127.0.0.1:{port}/progress", token_file=None, ca_file=None, timeout_s=2, log=log
    )
    sink = events.EventSink(out=out, poster=poster)
    sink.emit(events.checkpoint(5, "/tmp/checkpoint-5"))
    sink.close()
    assert json.loads(out.getvalue()) == {
        "llmops": 1,
        "event": "checkpoint",
        "step": 5,
        "path": "/tmp/checkpoint-5",
    }
    assert f"progress POST to http://127.0.0.1:{port}/progress failed" in log.getvalue()
