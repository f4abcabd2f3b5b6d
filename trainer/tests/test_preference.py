"""DPO and ORPO on the preference set with LoRA adapters, after SFT as in a real pipeline: the
base is the SFT run's output (its embeddings and head are trained too, through modules_to_save)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import DATA, SftRun, run_trainer


@pytest.mark.parametrize("method", ["dpo", "orpo"])
def test_a_preference_run_with_lora_writes_an_adapter(
    method: str, sft_run: SftRun, tmp_path: Path
) -> None:
    base = sft_run.work / "output"
    config = {
        "runId": f"tickets-{method}",
        "attempt": 1,
        "method": method,
        "baseModel": {"path": str(base)},
        "dataset": {"format": "preference", "path": str(DATA / "tickets-preference.jsonl")},
        "hyperparameters": {
            "epochs": 1,
            "learningRate": 0.001,
            "lrScheduler": "constant",
            "warmupRatio": 0,
            "batchSize": 4,
            "gradientAccumulationSteps": 1,
            "maxSeqLength": 256,
            "beta": 0.1,
            "maxSteps": 12,
        },
        "lora": {
            "rank": 8,
            "alpha": 16,
            "dropout": 0,
            "targetModules": ["q_proj", "v_proj"],
            "quantization": "none",
            "modulesToSave": ["embed_tokens", "lm_head"],
        },
        "output": {"dir": str(tmp_path / "output")},
        "checkpoints": {"dir": str(tmp_path / "checkpoints"), "saveSteps": 6},
        "progressEverySteps": 3,
    }
    run = run_trainer(config, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [p["step"] for p in run.of("progress")] == [3, 6, 9, 12]
    losses = [p["loss"] for p in run.of("progress")]
    assert losses[-1] < losses[0]
    assert [c["step"] for c in run.of("checkpoint")] == [6, 12]
    adapter = json.loads((tmp_path / "output" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(base)
    assert set(adapter["target_modules"]) == {"q_proj", "v_proj"}
    assert set(adapter["modules_to_save"]) == {"embed_tokens", "lm_head"}
    assert run.of("completed")[0]["metrics"]["steps"] == 12
