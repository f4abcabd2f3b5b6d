"""The Hub, through huggingface_hub against a local server that speaks its routes: a base model
downloaded at its commit, the output pushed (completed.output.revision is the commit), and the
Hub's refusals turned into the contract's reasons and fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops_trainer.errors import TrainerFailure
from llmops_trainer.hub import download_model, push_output

from .conftest import run_trainer, sft_config
from .hub_server import hub_server

TOKEN = "hf_llmops_test_token"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from huggingface_hub import constants

    with hub_server(TOKEN) as state:
        monkeypatch.setenv("HF_ENDPOINT", state.url)
        # What HF_ENDPOINT does in a trainer process, where huggingface_hub reads it at import.
        monkeypatch.setattr(constants, "ENDPOINT", state.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        yield state


def test_a_lora_run_on_a_hub_base_model_pushes_an_adapter_that_names_its_base(
    hub, tiny_model: Path, tmp_path: Path
) -> None:
    base_commit = push_output(tiny_model, "acme/tiny-llama", private=True, run_id="setup")
    config = sft_config(tmp_path / "unused", tmp_path, maxSteps=4)
    config["baseModel"] = {"repo": "acme/tiny-llama", "revision": base_commit}
    config["output"]["huggingFace"] = {"repo": "acme/tickets-triage", "private": True}
    config["progressEverySteps"] = 2
    config["lora"] = {
        "rank": 4,
        "alpha": 8,
        "dropout": 0.0,
        "targetModules": ["all-linear"],
        "quantization": "none",
        "modulesToSave": ["embed_tokens", "lm_head"],
    }
    run = run_trainer(config, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    done = run.of("completed")[0]
    pushed = hub.repos["acme/tickets-triage"]
    assert pushed.private
    assert done["output"] == {
        "path": str(tmp_path / "output"),
        "repo": "acme/tickets-triage",
        "revision": pushed.commits[-1]["oid"],
    }
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= set(
        pushed.files
    )
    # The adapter names its base by repository and commit, not by this machine's Hub cache.
    adapter = json.loads(pushed.files["adapter_config.json"])
    assert adapter["base_model_name_or_path"] == "acme/tiny-llama"
    assert adapter["revision"] == base_commit
    assert pushed.commits[-1]["summary"] == "llmops: output of run tickets-sft"
    # The base model was read at the commit the config names, not at a branch.
    assert f"GET /api/models/acme/tiny-llama/tree/{base_commit}?recursive=true&expand=false" in (
        hub.requests
    )


def test_a_missing_base_model_or_revision_is_named(hub, tiny_model: Path) -> None:
    push_output(tiny_model, "acme/tiny-llama", private=True, run_id="setup")
    with pytest.raises(TrainerFailure) as missing:
        download_model("acme/no-such-model", "main")
    assert (missing.value.reason, missing.value.field) == (
        "BaseModelNotFound",
        "spec.baseModel.repo",
    )
    with pytest.raises(TrainerFailure) as revision:
        download_model("acme/tiny-llama", "0" * 40)
    assert (revision.value.reason, revision.value.field) == (
        "BaseModelNotFound",
        "spec.baseModel.revision",
    )


def test_a_push_with_a_token_the_hub_refuses_names_the_token_secret(
    hub, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(TrainerFailure) as refused:
        push_output(tiny_model, "acme/tickets-triage", private=True, run_id="r1")
    assert refused.value.reason == "InvalidConfig"
    assert refused.value.field == "spec.output.huggingFace.tokenSecretRef"
    assert refused.value.retryable is False
