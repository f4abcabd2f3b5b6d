"""TrainerConfig: the one JSON file the trainer reads (mirror of TrainerConfig in
controller/backends/training/trainer-contract.ts), and its validating loader.

Every error names the config field, what is wrong and the fix, and carries the TrainingJob field
it comes from (spec.dataset.format…) for the `failed` event. Unknown fields are errors too: a
misspelt option must not be silently ignored.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from llmops_trainer.errors import TrainerFailure, spec_field

DEFAULT_CONFIG_PATH = "/etc/llmops/trainer.json"

Method = Literal["sft", "dpo", "orpo"]
DatasetFormat = Literal["chat", "completion", "preference"]
LrScheduler = Literal["linear", "cosine", "constant"]
Quantization = Literal["none", "4bit", "8bit"]

METHODS: tuple[Method, ...] = ("sft", "dpo", "orpo")
FORMATS: tuple[DatasetFormat, ...] = ("chat", "completion", "preference")
SCHEDULERS: tuple[LrScheduler, ...] = ("linear", "cosine", "constant")
QUANTIZATIONS: tuple[Quantization, ...] = ("none", "4bit", "8bit")
HUB_REPO = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class HubModel:
    repo: str
    revision: str


@dataclass(frozen=True)
class LocalModel:
    path: str


@dataclass(frozen=True)
class HubDatasetSource:
    repo: str
    revision: str
    split: str


@dataclass(frozen=True)
class Dataset:
    format: DatasetFormat
    path: str | None = None
    hugging_face: HubDatasetSource | None = None

    def describe(self) -> str:
        if self.hugging_face is not None:
            hub = self.hugging_face
            return f"{hub.repo}@{hub.revision} (split {hub.split})"
        return str(self.path)


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int
    learning_rate: float
    lr_scheduler: LrScheduler
    warmup_ratio: float
    batch_size: int
    gradient_accumulation_steps: int
    max_seq_length: int
    beta: float | None = None
    seed: int | None = None
    max_steps: int | None = None
    weight_decay: float = 0.0


@dataclass(frozen=True)
class Lora:
    rank: int
    alpha: float
    dropout: float
    target_modules: list[str]
    quantization: Quantization
    modules_to_save: list[str] | None = None


@dataclass(frozen=True)
class HubOutput:
    repo: str
    private: bool


@dataclass(frozen=True)
class Output:
    dir: str
    hugging_face: HubOutput | None = None


@dataclass(frozen=True)
class Checkpoints:
    dir: str
    save_steps: int


@dataclass(frozen=True)
class MlflowTracking:
    tracking_uri: str
    experiment_name: str
    tags: dict[str, str]
    registered_model_name: str | None = None


@dataclass(frozen=True)
class TrainerConfig:
    run_id: str
    attempt: int
    method: Method
    base_model: HubModel | LocalModel
    dataset: Dataset
    hyperparameters: Hyperparameters
    output: Output
    checkpoints: Checkpoints
    eval_dataset: Dataset | None = None
    lora: Lora | None = None
    mlflow: MlflowTracking | None = None
    progress_every_steps: int = 1
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


T = TypeVar("T")


class _Object:
    """Reads one JSON object at a config path, so every error can say which field it is."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise invalid(path, f"must be an object, got {_kind(value)}")
        self.value = cast(dict[str, Any], value)
        self.path = path
        self.read: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.value and self.value[key] is not None

    def _get(self, key: str, *, required: bool) -> object:
        self.read.add(key)
        if not self.has(key):
            if required:
                raise invalid(self.at(key), "is required")
            return None
        return self.value[key]

    def string(self, key: str, *, required: bool = True) -> str | None:
        value = self._get(key, required=required)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise invalid(self.at(key), f"must be a non-empty string, got {_kind(value)}")
        return value

    def req_string(self, key: str) -> str:
        return cast(str, self.string(key))

    def integer(self, key: str, *, required: bool = True, minimum: int | None = None) -> int | None:
        value = self._get(key, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._range_error(key, f"must be a whole number, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self._range_error(key, f"must be at least {minimum}, got {value}")
        return value

    def req_integer(self, key: str, *, minimum: int | None = None) -> int:
        return cast(int, self.integer(key, minimum=minimum))

    def number(
        self,
        key: str,
        *,
        required: bool = True,
        check: Callable[[float], bool] | None = None,
        expect: str = "",
    ) -> float | None:
        value = self._get(key, required=required)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self._range_error(key, f"must be a number, got {_kind(value)}")
        if check is not None and not check(float(value)):
            raise self._range_error(key, f"must be {expect}, got {value}")
        return float(value)

    def req_number(self, key: str, *, check: Callable[[float], bool], expect: str) -> float:
        return cast(float, self.number(key, check=check, expect=expect))

    def boolean(self, key: str) -> bool:
        value = self._get(key, required=True)
        if not isinstance(value, bool):
            raise invalid(self.at(key), f"must be true or false, got {_kind(value)}")
        return value

    def choice(self, key: str, options: tuple[T, ...]) -> T:
        value = self._get(key, required=True)
        if value not in options:
            listed = ", ".join(str(o) for o in options)
            raise invalid(self.at(key), f"must be one of {listed}, got {json.dumps(value)}")
        return cast(T, value)

    def strings(
        self, key: str, *, required: bool = True, non_empty: bool = True
    ) -> list[str] | None:
        value = self._get(key, required=required)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise invalid(self.at(key), "must be a list of non-empty strings")
        if non_empty and not value:
            raise invalid(self.at(key), "must list at least one module")
        return list(value)

    def object(self, key: str, *, required: bool = True) -> _Object | None:
        value = self._get(key, required=required)
        return None if value is None else _Object(value, self.at(key))

    def req_object(self, key: str) -> _Object:
        return cast(_Object, self.object(key))

    def done(self) -> None:
        unknown = sorted(set(self.value) - self.read)
        if unknown:
            raise invalid(
                self.at(unknown[0]),
                "is not a TrainerConfig field (controller/backends/training/trainer-contract.ts):"
                " remove it or fix its spelling",
            )

    def _range_error(self, key: str, problem: str) -> TrainerFailure:
        where = self.at(key)
        if where.startswith("hyperparameters."):
            return TrainerFailure(
                "InvalidHyperparameters", f"{where} {problem}", field=spec_field(where)
            )
        return invalid(where, problem)


def invalid(path: str, problem: str) -> TrainerFailure:
    return TrainerFailure(
        "InvalidConfig", f"{path or 'the config'} {problem}", field=spec_field(path)
    )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float | str):
        return f"{type(value).__name__} {json.dumps(value)}"
    return type(value).__name__


def _base_model(obj: _Object) -> HubModel | LocalModel:
    sources = [k for k in ("repo", "path") if obj.has(k)]
    if len(sources) != 1:
        raise invalid(obj.path, "must set exactly one of repo (with revision) or path")
    if sources == ["path"]:
        model: HubModel | LocalModel = LocalModel(obj.req_string("path"))
    else:
        repo = obj.req_string("repo")
        if not HUB_REPO.match(repo):
            raise invalid(obj.at("repo"), f"must be a Hub repository owner/name, got {repo!r}")
        model = HubModel(repo, obj.req_string("revision"))
    obj.done()
    return model


def _dataset(obj: _Object) -> Dataset:
    fmt = obj.choice("format", FORMATS)
    sources = [k for k in ("path", "huggingFace") if obj.has(k)]
    if len(sources) != 1:
        raise invalid(obj.path, "must set exactly one of path or huggingFace")
    if sources == ["path"]:
        dataset = Dataset(fmt, path=obj.req_string("path"))
    else:
        hub = obj.req_object("huggingFace")
        repo = hub.req_string("repo")
        if not HUB_REPO.match(repo):
            raise invalid(
                hub.at("repo"), f"must be a Hub dataset repository owner/name, got {repo!r}"
            )
        source = HubDatasetSource(repo, hub.req_string("revision"), hub.req_string("split"))
        hub.done()
        dataset = Dataset(fmt, hugging_face=source)
    obj.done()
    return dataset


def _hyperparameters(obj: _Object, method: Method) -> Hyperparameters:
    hp = Hyperparameters(
        epochs=obj.req_integer("epochs", minimum=1),
        learning_rate=obj.req_number(
            "learningRate", check=lambda v: 0 < v < 1, expect="between 0 and 1 (exclusive)"
        ),
        lr_scheduler=obj.choice("lrScheduler", SCHEDULERS),
        warmup_ratio=obj.req_number(
            "warmupRatio", check=lambda v: 0 <= v < 1, expect="at least 0 and below 1"
        ),
        batch_size=obj.req_integer("batchSize", minimum=1),
        gradient_accumulation_steps=obj.req_integer("gradientAccumulationSteps", minimum=1),
        max_seq_length=obj.req_integer("maxSeqLength", minimum=8),
        beta=obj.number("beta", required=False, check=lambda v: v > 0, expect="above 0"),
        seed=obj.integer("seed", required=False, minimum=0),
        max_steps=obj.integer("maxSteps", required=False, minimum=1),
        weight_decay=obj.number(
            "weightDecay", required=False, check=lambda v: 0 <= v <= 1, expect="from 0 to 1"
        )
        or 0.0,
    )
    if hp.beta is not None and method == "sft":
        raise TrainerFailure(
            "InvalidHyperparameters",
            "hyperparameters.beta applies to methods dpo and orpo only; remove it for sft",
            field="spec.hyperparameters.beta",
        )
    obj.done()
    return hp


def _lora(obj: _Object) -> Lora:
    lora = Lora(
        rank=obj.req_integer("rank", minimum=1),
        alpha=obj.req_number("alpha", check=lambda v: v > 0, expect="above 0"),
        dropout=obj.req_number("dropout", check=lambda v: 0 <= v < 1, expect="at least 0, below 1"),
        target_modules=cast(list[str], obj.strings("targetModules")),
        quantization=obj.choice("quantization", QUANTIZATIONS),
        modules_to_save=obj.strings("modulesToSave", required=False, non_empty=False),
    )
    if "all-linear" in lora.target_modules and len(lora.target_modules) > 1:
        raise invalid(
            obj.at("targetModules"),
            "lists all-linear with other modules; all-linear already covers every linear layer:"
            " list it alone, or name the modules one by one",
        )
    obj.done()
    return lora


def _output(obj: _Object) -> Output:
    out_dir = obj.req_string("dir")
    hub_obj = obj.object("huggingFace", required=False)
    hub = None
    if hub_obj is not None:
        repo = hub_obj.req_string("repo")
        if not HUB_REPO.match(repo):
            raise invalid(hub_obj.at("repo"), f"must be a Hub repository owner/name, got {repo!r}")
        hub = HubOutput(repo, hub_obj.boolean("private"))
        hub_obj.done()
    obj.done()
    return Output(out_dir, hub)


def _mlflow(obj: _Object) -> MlflowTracking:
    tags_value = obj.value.get("tags")
    obj.read.add("tags")
    if not isinstance(tags_value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags_value.items()
    ):
        raise invalid(obj.at("tags"), "must be an object of string values (an empty {} is fine)")
    tracking = MlflowTracking(
        tracking_uri=obj.req_string("trackingUri"),
        experiment_name=obj.req_string("experimentName"),
        tags=dict(tags_value),
        registered_model_name=obj.string("registeredModelName", required=False),
    )
    obj.done()
    return tracking


def parse_config(value: object) -> TrainerConfig:
    """Validates a decoded TrainerConfig; raises TrainerFailure naming the field at fault."""
    root = _Object(value, "")
    run_id = root.req_string("runId")
    attempt = root.req_integer("attempt", minimum=1)
    method = root.choice("method", METHODS)
    base_model = _base_model(root.req_object("baseModel"))
    dataset = _dataset(root.req_object("dataset"))
    eval_obj = root.object("evalDataset", required=False)
    eval_dataset = _dataset(eval_obj) if eval_obj is not None else None
    hyperparameters = _hyperparameters(root.req_object("hyperparameters"), method)
    lora_obj = root.object("lora", required=False)
    lora = _lora(lora_obj) if lora_obj is not None else None
    output = _output(root.req_object("output"))
    ck = root.req_object("checkpoints")
    checkpoints = Checkpoints(ck.req_string("dir"), ck.req_integer("saveSteps", minimum=1))
    ck.done()
    tracking = root.object("tracking", required=False)
    mlflow = None
    if tracking is not None:
        mlflow_obj = tracking.object("mlflow", required=False)
        mlflow = _mlflow(mlflow_obj) if mlflow_obj is not None else None
        tracking.done()
    every = root.integer("progressEverySteps", required=False, minimum=1) or 1
    root.done()

    if eval_dataset is not None and eval_dataset.format != dataset.format:
        raise TrainerFailure(
            "DatasetFormat",
            f"evalDataset.format is {eval_dataset.format} but dataset.format is {dataset.format};"
            " they must match",
            field="spec.evalDataset.format",
        )
    wants_pairs = method in ("dpo", "orpo")
    if wants_pairs != (dataset.format == "preference"):
        need = "preference" if wants_pairs else "chat or completion"
        raise TrainerFailure(
            "DatasetFormat",
            f"method {method} trains on dataset.format {need}, but dataset.format is"
            f" {dataset.format}: change spec.dataset.format (and the data) or spec.method",
            field="spec.dataset.format",
        )
    return TrainerConfig(
        run_id=run_id,
        attempt=attempt,
        method=method,
        base_model=base_model,
        dataset=dataset,
        eval_dataset=eval_dataset,
        hyperparameters=hyperparameters,
        lora=lora,
        output=output,
        checkpoints=checkpoints,
        mlflow=mlflow,
        progress_every_steps=every,
        raw=cast(dict[str, Any], value),
    )


def config_path(argv: list[str] | None = None) -> str:
    """The first CLI argument, else TRAINER_CONFIG, else /etc/llmops/trainer.json."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        return args[0]
    return os.environ.get("TRAINER_CONFIG") or DEFAULT_CONFIG_PATH


def load_config(path: str) -> TrainerConfig:
    """Reads and validates the config file at path."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise TrainerFailure(
            "InvalidConfig",
            f"cannot read the trainer config {path}: {err.strerror or err}; pass its path as the"
            " first argument or in TRAINER_CONFIG",
        ) from err
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise TrainerFailure(
            "InvalidConfig",
            f"{path}:{err.lineno}:{err.colno}: the trainer config is not valid JSON: {err.msg}",
        ) from err
    return parse_config(value)
