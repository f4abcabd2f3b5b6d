"""The Hub, through huggingface_hub against a local server that speaks its routes: a base model
downloaded at its commit, a dataset read at its commit, the output pushed
(completed.output.revision is the commit), and the Hub's refusals turned into the contract's
reasons and fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmops_trainer.errors import TrainerFailure
from llmops_trainer.hub import download_model, push_output

from .conftest import DATA, run_trainer, sft_config
from .hub_server import add_dataset, hub_server

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


LOAD_ROWS = """
import json, sys
from llmops_trainer.config import Dataset, HubDatasetSource
from llmops_trainer.data import load_rows
from llmops_trainer.errors import TrainerFailure
repo, revision, split, which = sys.argv[1:]
try:
    source = HubDatasetSource(repo, revision, split)
    rows = load_rows(Dataset("chat", hugging_face=source), which=which)
    print(json.dumps({"rows": rows}))
except TrainerFailure as failure:
    print(json.dumps({"reason": failure.reason, "field": failure.field, "message": str(failure)}))
"""


def load_hub_rows(repo: str, revision: str, split: str, which: str = "dataset") -> dict[str, Any]:
    """load_rows in a fresh process: `datasets` and huggingface_hub read HF_ENDPOINT at import."""
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_ROWS, repo, revision, split, which],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_private_hub_dataset_is_read_at_its_commit_and_checked(hub) -> None:
    good = (DATA / "tickets-eval.jsonl").read_bytes()
    unanswered = {"messages": [{"role": "user", "content": "a ticket nobody answered"}]}
    bad = good + json.dumps(unanswered).encode() + b"\n"
    commit = add_dataset(
        hub, "acme/tickets", {"data/train.jsonl": good, "data/test.jsonl": bad}, private=True
    )
    rows = load_hub_rows("acme/tickets", commit, "train")["rows"]
    assert len(rows) == 40
    assert rows[0]["messages"][-1]["role"] == "assistant"
    failed = load_hub_rows("acme/tickets", commit, "test", "evalDataset")
    assert (failed["reason"], failed["field"]) == ("DatasetFormat", "spec.evalDataset.format")
    assert "row 41: messages has no assistant message" in failed["message"]


def test_a_hub_dataset_whose_rows_do_not_share_a_shape_is_a_format_error(hub) -> None:
    good = (DATA / "tickets-eval.jsonl").read_bytes()
    mixed = good + json.dumps({"prompt": "no messages here", "completion": "bug"}).encode() + b"\n"
    # In one file, `datasets` unifies the columns: the row check names the row.
    one = add_dataset(hub, "acme/one-file", {"data/train.jsonl": mixed}, private=False)
    failed = load_hub_rows("acme/one-file", one, "train")
    assert (failed["reason"], failed["field"]) == ("DatasetFormat", "spec.dataset.format")
    assert "row 41: field messages is missing" in failed["message"]
    # Across split files the columns cannot be unified: `datasets` itself refuses.
    files = {"data/train.jsonl": good, "data/test.jsonl": mixed}
    two = add_dataset(hub, "acme/two-files", files, private=False)
    failed = load_hub_rows("acme/two-files", two, "train")
    assert (failed["reason"], failed["field"]) == ("DatasetFormat", "spec.dataset.format")
    assert "cannot be read as chat rows" in failed["message"]


@pytest.mark.parametrize(
    ("repo", "split", "field"),
    [
        ("acme/no-such-dataset", "train", "spec.dataset.huggingFace.repo"),
        ("acme/tickets", "validation", "spec.dataset.huggingFace.split"),
    ],
)
def test_a_missing_hub_dataset_or_split_is_named(hub, repo: str, split: str, field: str) -> None:
    data = (DATA / "tickets-eval.jsonl").read_bytes()
    commit = add_dataset(hub, "acme/tickets", {"data/train.jsonl": data}, private=False)
    failed = load_hub_rows(repo, commit, split)
    assert (failed["reason"], failed["field"]) == ("InvalidConfig", field)
