"""The config loader: the shared fixture parses, and every bad field is named with its
TrainingJob field and a reason from the contract."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from llmops_trainer.config import HubModel, config_path, load_config, parse_config
from llmops_trainer.errors import TrainerFailure, spec_field

from .conftest import FIXTURES


def fixture() -> dict[str, Any]:
    return json.loads((FIXTURES / "trainer-config.json").read_text())


def test_the_shared_fixture_parses_into_every_field() -> None:
    config = load_config(str(FIXTURES / "trainer-config.json"))
    assert config.run_id == "3f9c2a7d1e5b"
    assert config.attempt == 2
    assert config.base_model == HubModel(
        "meta-llama/Llama-3.1-8B-Instruct", "0e9e39f249a16976918f6564b8830bc894c89659"
    )
    assert config.dataset.path == "/var/run/llmops/dataset/dataset.jsonl"
    assert config.eval_dataset is not None and config.eval_dataset.hugging_face is not None
    assert config.eval_dataset.hugging_face.split == "test"
    assert config.hyperparameters.learning_rate == 0.0002
    assert config.hyperparameters.max_steps is None
    assert config.hyperparameters.weight_decay == 0.01
    assert config.lora is not None and config.lora.quantization == "4bit"
    assert config.lora.target_modules == ["all-linear"]
    assert config.output.hugging_face is not None and config.output.hugging_face.private
    assert config.checkpoints.save_steps == 200
    assert config.mlflow is not None and config.mlflow.registered_model_name == "support-triage"
    assert config.mlflow.tags["llmops.dev/run-id"] == "3f9c2a7d1e5b"
    assert config.progress_every_steps == 10


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

# (config path, new value, reason, TrainingJob field, words the message must contain)
BAD_FIELDS = [
    ("runId", _DELETE, "InvalidConfig", None, "runId is required"),
    ("attempt", 0, "InvalidConfig", None, "attempt must be at least 1"),
    ("method", "ppo", "InvalidConfig", "spec.method", "method must be one of sft, dpo, orpo"),
    ("baseModel.path", "/models/x", "InvalidConfig", "spec.baseModel", "exactly one of repo"),
    ("baseModel.repo", "not a repo", "InvalidConfig", "spec.baseModel.repo", "owner/name"),
    (
        "dataset.format",
        "jsonl",
        "InvalidConfig",
        "spec.dataset.format",
        "chat, completion, preference",
    ),
    (
        "dataset.path",
        _DELETE,
        "InvalidConfig",
        "spec.dataset",
        "exactly one of path or huggingFace",
    ),
    (
        "evalDataset.huggingFace.split",
        _DELETE,
        "InvalidConfig",
        "spec.evalDataset.huggingFace.split",
        "is required",
    ),
    ("evalDataset.format", "completion", "DatasetFormat", "spec.evalDataset.format", "must match"),
    (
        "method",
        "dpo",
        "DatasetFormat",
        "spec.dataset.format",
        "method dpo trains on dataset.format preference",
    ),
    (
        "hyperparameters.learningRate",
        2,
        "InvalidHyperparameters",
        "spec.hyperparameters.learningRate",
        "between 0 and 1",
    ),
    (
        "hyperparameters.batchSize",
        0,
        "InvalidHyperparameters",
        "spec.hyperparameters.batchSize",
        "at least 1",
    ),
    (
        "hyperparameters.epochs",
        True,
        "InvalidHyperparameters",
        "spec.hyperparameters.epochs",
        "whole number",
    ),
    (
        "hyperparameters.lrScheduler",
        "step",
        "InvalidConfig",
        "spec.hyperparameters.lrScheduler",
        "linear, cosine, constant",
    ),
    (
        "hyperparameters.beta",
        0.1,
        "InvalidHyperparameters",
        "spec.hyperparameters.beta",
        "remove it for sft",
    ),
    (
        "hyperparameters.maxSteps",
        -5,
        "InvalidHyperparameters",
        "spec.hyperparameters.maxSteps",
        "at least 1",
    ),
    (
        "hyperparameters.learningrate",
        0.1,
        "InvalidConfig",
        "spec.hyperparameters.learningrate",
        "not a TrainerConfig field",
    ),
    ("lora.quantization", "2bit", "InvalidConfig", "spec.lora.quantization", "none, 4bit, 8bit"),
    (
        "lora.targetModules",
        ["all-linear", "q_proj"],
        "InvalidConfig",
        "spec.lora.targetModules",
        "list it alone",
    ),
    ("lora.targetModules", [], "InvalidConfig", "spec.lora.targetModules", "at least one module"),
    ("lora.dropout", 1, "InvalidConfig", "spec.lora.dropout", "below 1"),
    (
        "output.huggingFace.private",
        _DELETE,
        "InvalidConfig",
        "spec.output.huggingFace.private",
        "is required",
    ),
    ("output.dir", "", "InvalidConfig", "spec.output", "non-empty string"),
    ("checkpoints.saveSteps", 0, "InvalidConfig", None, "checkpoints.saveSteps must be at least 1"),
    (
        "tracking.mlflow.tags",
        {"a": 1},
        "InvalidConfig",
        "spec.tracking.mlflow.tags",
        "string values",
    ),
    ("progressEverySteps", 0, "InvalidConfig", None, "at least 1"),
]


@pytest.mark.parametrize(
    ("path", "value", "reason", "field", "words"),
    BAD_FIELDS,
    ids=[
        f"{row[0]}={json.dumps(row[1]) if row[1] is not _DELETE else 'deleted'}"
        for row in BAD_FIELDS
    ],
)
def test_a_bad_field_is_named_with_its_spec_field(
    path: str, value: Any, reason: str, field: str | None, words: str
) -> None:
    config = copy.deepcopy(fixture())
    _set(config, path, value)
    with pytest.raises(TrainerFailure) as caught:
        parse_config(config)
    failure = caught.value
    assert (failure.reason, failure.field) == (reason, field)
    assert words in failure.message
    assert failure.retryable is False


def test_a_config_that_is_not_json_names_the_line(tmp_path) -> None:
    path = tmp_path / "trainer.json"
    path.write_text('{\n  "runId": "x",\n  oops\n}')
    with pytest.raises(
        TrainerFailure, match=r"trainer\.json:3:3: the trainer config is not valid JSON"
    ):
        load_config(str(path))


def test_a_missing_config_file_says_where_it_looked(tmp_path) -> None:
    with pytest.raises(TrainerFailure, match=r"cannot read the trainer config .*TRAINER_CONFIG"):
        load_config(str(tmp_path / "absent.json"))


def test_the_config_path_comes_from_the_argument_then_the_env_then_the_default(monkeypatch) -> None:
    monkeypatch.setenv("TRAINER_CONFIG", "/env/trainer.json")
    assert config_path(["/arg/trainer.json"]) == "/arg/trainer.json"
    assert config_path([]) == "/env/trainer.json"
    monkeypatch.delenv("TRAINER_CONFIG")
    assert config_path([]) == "/etc/llmops/trainer.json"


@pytest.mark.parametrize(
    ("config_field", "want"),
    [
        ("dataset.format", "spec.dataset.format"),
        ("dataset.path", "spec.dataset"),
        ("lora.modulesToSave", "spec.lora.modulesToSave"),
        ("output.dir", "spec.output"),
        ("checkpoints.dir", None),
        ("runId", None),
    ],
)
def test_config_fields_map_to_trainingjob_fields(config_field: str, want: str | None) -> None:
    assert spec_field(config_field) == want
