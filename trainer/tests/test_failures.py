"""Permanent failures end as one `failed` event with the contract reason and the TrainingJob field,
before anything is trained, and a non-zero exit code."""

from __future__ import annotations

import copy
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from llmops_trainer import train
from llmops_trainer.events import EventSink

from .conftest import BIN, DATA, sft_config


def run_in_process(config: dict[str, Any], tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    path = tmp_path / "trainer.json"
    path.write_text(json.dumps(config))
    out = io.StringIO()
    code = train.run(str(path), EventSink(out=out))
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_bad_config_fails_through_the_console_script(tmp_path: Path) -> None:
    config = sft_config(tmp_path / "model", tmp_path)
    config["hyperparameters"]["learningRate"] = 5
    path = tmp_path / "trainer.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run(
        [str(BIN / "llmops-train"), str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [
        {
            "llmops": 1,
            "event": "failed",
            "reason": "InvalidHyperparameters",
            "message": "hyperparameters.learningRate must be between 0 and 1 (exclusive), got 5",
            "retryable": False,
            "field": "spec.hyperparameters.learningRate",
        }
    ]
    assert "InvalidHyperparameters" in proc.stderr


def test_a_bad_dataset_line_fails_before_the_model_is_loaded(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    lines = (DATA / "tickets-train.jsonl").read_text().splitlines()[:5]
    lines[3] = json.dumps({"prompt": "a ticket", "completion": "bug"})
    data.write_text("\n".join(lines) + "\n")
    config = sft_config(tmp_path / "no-model-here", tmp_path)
    config["dataset"]["path"] = str(data)
    code, events = run_in_process(config, tmp_path)
    assert code == 1
    assert len(events) == 1
    failed = events[0]
    assert (failed["reason"], failed["field"], failed["retryable"]) == (
        "DatasetFormat", "spec.dataset.format", False,
    )  # fmt: skip
    assert "line 4: field messages is missing" in failed["message"]


def test_a_missing_base_model_is_base_model_not_found(tmp_path: Path) -> None:
    code, events = run_in_process(sft_config(tmp_path / "no-model-here", tmp_path), tmp_path)
    assert code == 1
    assert (events[0]["reason"], events[0]["field"]) == ("BaseModelNotFound", "spec.baseModel.path")
    assert "no config.json" in events[0]["message"]


def test_qlora_without_a_gpu_is_refused_clearly(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    # The same answer on a machine with a GPU: this test is about the machine without one.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = sft_config(tiny_model, tmp_path)
    config["lora"] = {
        "rank": 8, "alpha": 16, "dropout": 0.0, "targetModules": ["all-linear"],
        "quantization": "4bit",
    }  # fmt: skip
    code, events = run_in_process(config, tmp_path)
    assert code == 1
    assert (events[0]["reason"], events[0]["field"]) == ("InvalidConfig", "spec.lora.quantization")
    assert "needs a CUDA GPU" in events[0]["message"]


@pytest.mark.parametrize(
    ("lora_change", "field", "words"),
    [
        ({"targetModules": ["qkv"]}, "spec.lora.targetModules", "its linear layers are"),
        ({"modulesToSave": ["wte"]}, "spec.lora.modulesToSave", "wte not found"),
    ],
)
def test_lora_modules_that_the_model_lacks_are_named(
    tmp_path: Path, tiny_model: Path, lora_change: dict[str, Any], field: str, words: str
) -> None:
    config = sft_config(tiny_model, tmp_path)
    config["lora"] = copy.deepcopy(
        {
            "rank": 8,
            "alpha": 16,
            "dropout": 0.0,
            "targetModules": ["all-linear"],
            "quantization": "none",
        }
    )
    config["lora"].update(lora_change)
    code, events = run_in_process(config, tmp_path)
    assert code == 1
    assert (events[0]["reason"], events[0]["field"]) == ("InvalidConfig", field)
    assert words in events[0]["message"]
