"""The Trainer's callbacks as contract events (started, progress, checkpoint) and MLflow metrics.
Kept apart from train.py so that a config error is reported without importing transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from llmops_trainer import events
from llmops_trainer.config import TrainerConfig
from llmops_trainer.events import EventSink


class EventCallback(TrainerCallback):
    """Turns the Trainer's callbacks into contract events and MLflow metrics."""

    def __init__(
        self,
        config: TrainerConfig,
        sink: EventSink,
        tracker: Any,
        *,
        resumed_from_step: int | None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.tracker = tracker
        self.resumed_from_step = resumed_from_step
        self.last_eval: tuple[int, float] | None = None

    def eval_loss_at(self, step: int) -> float | None:
        """The eval loss logged at step, if the Trainer already evaluated there."""
        return self.last_eval[1] if self.last_eval and self.last_eval[0] == step else None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.sink.emit(
            events.started(
                self.config.run_id,
                self.config.attempt,
                int(state.max_steps),
                self.resumed_from_step,
            )
        )

    def on_log(
        self,
        args: Any,
        state: Any,
        control: Any,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        logs = logs or {}
        loss, eval_loss = logs.get("loss"), logs.get("eval_loss")
        if loss is None and eval_loss is None:
            return  # the closing summary (train_loss, train_runtime) goes into `completed`
        step = int(state.global_step)
        if eval_loss is not None:
            self.last_eval = (step, float(eval_loss))
        self.sink.emit(
            events.progress(
                step,
                int(state.max_steps),
                float(state.epoch or 0.0),
                loss=loss,
                eval_loss=eval_loss,
                learning_rate=logs.get("learning_rate"),
            )
        )
        if self.tracker is not None:
            metrics = {
                key: float(value)
                for key, value in logs.items()
                if isinstance(value, int | float) and value == value and abs(value) != float("inf")
            }
            self.tracker.log_metrics(metrics, step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = int(state.global_step)
        path = Path(args.output_dir) / f"checkpoint-{step}"
        self.sink.emit(events.checkpoint(step, str(path)))
