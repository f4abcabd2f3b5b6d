"""llmops-train: one run attempt from one TrainerConfig, reported as JSON-line events.

  llmops-train [CONFIG]    (else $TRAINER_CONFIG, else /etc/llmops/trainer.json)

The story: read and check the config, check the data against its format, load the base model,
build the TRL trainer for the method (with LoRA / QLoRA when asked), resume from the newest
checkpoint on an attempt after the first, train (progress and checkpoint events as it goes),
write the output, push it to the Hub, record it in MLflow, and print `completed`. Whatever goes
wrong ends as one `failed` event with a contract reason and a non-zero exit code.
"""

from __future__ import annotations

import os

# Before torch is imported: two threads were 16x slower than one on a loaded 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import re
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from llmops_trainer import events
from llmops_trainer.config import HubModel, TrainerConfig, config_path, load_config
from llmops_trainer.data import load_rows
from llmops_trainer.errors import TrainerFailure
from llmops_trainer.events import EventSink, ProgressPoster

CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


class Terminated(Exception):
    """SIGTERM (eviction, cancel, activeDeadlineSeconds): the next attempt resumes."""


@dataclass
class RunResult:
    output: events.CompletedOutput
    metrics: events.CompletedMetrics
    mlflow: events.CompletedMlflow | None


def main(argv: list[str] | None = None) -> None:
    # stdout carries our events only: whatever the libraries print (the Trainer's log dicts
    # among them) goes to stderr, so a reader never has to tell the two apart.
    events_out = sys.stdout
    sys.stdout = sys.stderr
    sink = EventSink(out=events_out, poster=ProgressPoster.from_env())
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = run(config_path(argv), sink)
    finally:
        sink.close()
    sys.exit(code)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def run(path: str, sink: EventSink) -> int:
    """Runs the attempt the config at path describes; returns the exit code."""
    try:
        config = load_config(path)
        result = train(config, sink)
    except TrainerFailure as failure:
        print(f"llmops-train: {failure.reason}: {failure.message}", file=sys.stderr)
        sink.emit(events.failed(failure))
        return 1
    except Terminated:
        sink.emit(
            events.failed(
                TrainerFailure("Terminated", "the trainer got SIGTERM; the next attempt resumes")
            )
        )
        return 143
    except Exception as err:
        traceback.print_exc()
        sink.emit(events.failed(classify(err)))
        return 1
    sink.emit(events.completed(result.output, result.metrics, result.mlflow))
    return 0


def classify(err: BaseException) -> TrainerFailure:
    """A reason for an unexpected error; all of these are retryable."""
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return TrainerFailure("OutOfMemory", f"the GPU ran out of memory: {err}")
    if isinstance(err, MemoryError):
        return TrainerFailure("OutOfMemory", "the trainer ran out of memory")
    return TrainerFailure("TrainerError", f"{type(err).__name__}: {err}")


def train(config: TrainerConfig, sink: EventSink) -> RunResult:
    started_at = time.monotonic()
    quiet_progress_bars()
    check_quantization(config)
    check_method(config)
    train_rows = load_rows(config.dataset, which="dataset")
    eval_rows = load_rows(config.eval_dataset, which="evalDataset") if config.eval_dataset else None
    model, tokenizer = load_base_model(config)
    peft_config = lora_config(config, model)

    tracker = None
    if config.mlflow is not None:
        from llmops_trainer.tracking import MlflowTracker

        tracker = MlflowTracker(config)
        tracker.start()

    from llmops_trainer.callbacks import EventCallback

    resume = newest_checkpoint(Path(config.checkpoints.dir)) if config.attempt > 1 else None
    callback = EventCallback(config, sink, tracker, resumed_from_step=resume[1] if resume else None)
    try:
        trainer = build_trainer(
            config, model, tokenizer, peft_config, train_rows, eval_rows, callback
        )
        train_output = trainer.train(resume_from_checkpoint=str(resume[0]) if resume else None)
        eval_loss = callback.eval_loss_at(trainer.state.global_step)
        if eval_rows is not None and eval_loss is None:
            # evaluate() logs through on_log too: the closing eval loss is a progress event.
            eval_loss = trainer.evaluate().get("eval_loss")

        out_dir = Path(config.output.dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        trainer.save_model(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))
        point_adapter_at_hub_base(out_dir, config)
        output: events.CompletedOutput = {"path": str(out_dir)}
        if config.output.hugging_face is not None:
            from llmops_trainer.hub import push_output

            hub = config.output.hugging_face
            output["repo"] = hub.repo
            output["revision"] = push_output(
                out_dir, hub.repo, private=hub.private, run_id=config.run_id
            )
        mlflow_result: events.CompletedMlflow | None = None
        if tracker is not None and tracker.run_id is not None:
            version = tracker.finish(dict(output))
            mlflow_result = {"runId": tracker.run_id}
            if version is not None:
                mlflow_result["modelVersion"] = version
    except BaseException:
        if tracker is not None:
            tracker.fail()
        raise

    metrics: events.CompletedMetrics = {
        "steps": int(trainer.state.global_step),
        "seconds": round(time.monotonic() - started_at, 2),
    }
    train_loss = train_output.metrics.get("train_loss")
    if isinstance(train_loss, float) and train_loss == train_loss:
        metrics["trainLoss"] = train_loss
    if isinstance(eval_loss, float) and eval_loss == eval_loss:
        metrics["evalLoss"] = eval_loss
    return RunResult(output, metrics, mlflow_result)


def quiet_progress_bars() -> None:
    """No tqdm bars in the logs: progress is what our events are for."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def point_adapter_at_hub_base(out_dir: Path, config: TrainerConfig) -> None:
    """A LoRA adapter names its base model; a Hub base was loaded from the local cache, so name
    the repository and commit instead, which a server anywhere can load."""
    adapter_config = out_dir / "adapter_config.json"
    if not isinstance(config.base_model, HubModel) or not adapter_config.is_file():
        return
    import json

    value = json.loads(adapter_config.read_text())
    value["base_model_name_or_path"] = config.base_model.repo
    value["revision"] = config.base_model.revision
    adapter_config.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def check_quantization(config: TrainerConfig) -> None:
    """QLoRA needs bitsandbytes and a CUDA GPU: say so before loading anything."""
    if config.lora is None or config.lora.quantization == "none":
        return
    import torch

    quantization = config.lora.quantization
    if not torch.cuda.is_available():
        raise TrainerFailure(
            "InvalidConfig",
            f"lora.quantization {quantization} (QLoRA) needs a CUDA GPU and this machine has none:"
            " set spec.lora.quantization to none, or give the run a GPU (spec.resources.gpu)",
            field="spec.lora.quantization",
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise TrainerFailure(
            "InvalidConfig",
            f"lora.quantization {quantization} needs bitsandbytes, which this trainer image lacks:"
            " use the image built from trainer/Dockerfile (pip install 'llmops-trainer[qlora]')",
            field="spec.lora.quantization",
        ) from err


def check_method(config: TrainerConfig) -> None:
    if config.method != "orpo":
        return
    try:
        from trl.experimental.orpo import ORPOTrainer  # noqa: F401
    except ImportError as err:
        raise TrainerFailure(
            "UnsupportedMethod",
            "method orpo needs trl.experimental.orpo, which this TRL version does not have:"
            " use method dpo",
            field="spec.method",
        ) from err


def load_base_model(config: TrainerConfig) -> tuple[Any, Any]:
    """(model, tokenizer) from a local directory or the Hub at the resolved commit."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = config.base_model
    if isinstance(base, HubModel):
        from llmops_trainer.hub import download_model

        model_dir = download_model(base.repo, base.revision)
        field = "spec.baseModel.repo"
    else:
        model_dir = Path(base.path)
        field = "spec.baseModel.path"
        if not (model_dir / "config.json").is_file():
            raise TrainerFailure(
                "BaseModelNotFound",
                f"baseModel.path {model_dir} holds no model (no config.json): point it at a"
                " directory in Hugging Face format (llmops-create-model writes one)",
                field=field,
            )
    kwargs: dict[str, Any] = {}
    if torch.cuda.is_available():
        kwargs["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quantization = config.lora.quantization if config.lora else "none"
    if quantization != "none":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = (
            BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=kwargs.get("dtype", torch.bfloat16),
            )
            if quantization == "4bit"
            else BitsAndBytesConfig(load_in_8bit=True)
        )
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    except (OSError, ValueError) as err:
        raise TrainerFailure(
            "BaseModelNotFound",
            f"the base model in {model_dir} cannot be loaded as a causal LM: {err}",
            field=field,
        ) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if config.dataset.format != "completion" and not tokenizer.chat_template:
        raise TrainerFailure(
            "BaseModelNotFound",
            f"the base model's tokenizer ({model_dir}) has no chat template, which format"
            f" {config.dataset.format} needs: use a chat (instruct) model, or dataset.format"
            " completion with plain-text prompts",
            field="spec.baseModel",
        )
    return model, tokenizer


def lora_config(config: TrainerConfig, model: Any) -> Any:
    """PEFT's LoraConfig, after checking the named modules exist in this model."""
    lora = config.lora
    if lora is None:
        return None
    from peft import LoraConfig

    names = [name for name, _ in model.named_modules()]

    def missing(wanted: list[str]) -> list[str]:
        return [w for w in wanted if not any(n == w or n.endswith(f".{w}") for n in names)]

    targets: str | list[str] = lora.target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"
    elif absent := missing(lora.target_modules):
        raise TrainerFailure(
            "InvalidConfig",
            f"lora.targetModules {', '.join(absent)} not found in the base model; its linear layers"
            f" are {', '.join(linear_module_names(model))} (or use all-linear)",
            field="spec.lora.targetModules",
        )
    if lora.modules_to_save and (absent := missing(lora.modules_to_save)):
        raise TrainerFailure(
            "InvalidConfig",
            f"lora.modulesToSave {', '.join(absent)} not found in the base model (for a Llama:"
            " embed_tokens, lm_head)",
            field="spec.lora.modulesToSave",
        )
    return LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        modules_to_save=lora.modules_to_save or None,
        task_type="CAUSAL_LM",
    )


def linear_module_names(model: Any) -> list[str]:
    import torch

    return sorted(
        {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        - {"lm_head"}
    )


def newest_checkpoint(directory: Path) -> tuple[Path, int] | None:
    """The checkpoint-N directory with the highest N that holds a trainer state."""
    if not directory.is_dir():
        return None
    found = [
        (path, int(match.group(1)))
        for path in directory.iterdir()
        if (match := CHECKPOINT_DIR.match(path.name)) and (path / "trainer_state.json").is_file()
    ]
    return max(found, key=lambda item: item[1]) if found else None


def training_arguments(config: TrainerConfig, eval_rows: list[Any] | None) -> dict[str, Any]:
    """What every TRL config takes, from the hyperparameters."""
    import torch

    hp = config.hyperparameters
    cuda = torch.cuda.is_available()
    quantized = config.lora is not None and config.lora.quantization != "none"
    args: dict[str, Any] = {
        "output_dir": config.checkpoints.dir,
        "num_train_epochs": hp.epochs,
        "max_steps": hp.max_steps or -1,
        "learning_rate": hp.learning_rate,
        "weight_decay": hp.weight_decay,
        "lr_scheduler_type": (
            "constant_with_warmup"
            if hp.lr_scheduler == "constant" and hp.warmup_ratio
            else hp.lr_scheduler
        ),
        # transformers 5 has no warmup_ratio: a float below 1 in warmup_steps is the ratio.
        "warmup_steps": float(hp.warmup_ratio),
        "per_device_train_batch_size": hp.batch_size,
        "per_device_eval_batch_size": hp.batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        "seed": hp.seed if hp.seed is not None else 42,
        "logging_strategy": "steps",
        "logging_steps": config.progress_every_steps,
        "save_strategy": "steps",
        "save_steps": config.checkpoints.save_steps,
        "save_total_limit": 2,
        "eval_strategy": "steps" if eval_rows else "no",
        "eval_steps": config.checkpoints.save_steps if eval_rows else None,
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": not cuda,
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        # TRL turns it on by default: ~50x slower on CPU. Worth it only to fit a quantised model.
        "gradient_checkpointing": cuda and quantized,
        "dataloader_num_workers": 0,
    }
    return args


def build_trainer(
    config: TrainerConfig,
    model: Any,
    tokenizer: Any,
    peft_config: Any,
    train_rows: list[Any],
    eval_rows: list[Any] | None,
    callback: Any,
) -> Any:
    from datasets import Dataset

    train_dataset = Dataset.from_list(train_rows)
    eval_dataset = Dataset.from_list(eval_rows) if eval_rows else None
    args = training_arguments(config, eval_rows)
    hp = config.hyperparameters
    common = {
        "model": model,
        "train_dataset": train_dataset,
        "eval_dataset": eval_dataset,
        "processing_class": tokenizer,
        "peft_config": peft_config,
        "callbacks": [callback],
    }
    if config.method == "sft":
        from trl import SFTConfig, SFTTrainer

        # Train on the answers only when the chat template marks them ({% generation %}).
        assistant_only = config.dataset.format == "chat" and "generation" in (
            tokenizer.chat_template or ""
        )
        sft_args = SFTConfig(
            **args, max_length=hp.max_seq_length, assistant_only_loss=assistant_only
        )
        return SFTTrainer(args=sft_args, **common)
    if config.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        dpo_args = DPOConfig(**args, max_length=hp.max_seq_length, beta=hp.beta or 0.1)
        return DPOTrainer(args=dpo_args, **common)
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    orpo_args = ORPOConfig(**args, max_length=hp.max_seq_length, beta=hp.beta or 0.1)
    return ORPOTrainer(args=orpo_args, **common)


if __name__ == "__main__":
    main()
