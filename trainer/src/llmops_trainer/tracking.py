"""MLflow tracking: the run's params, the loss curve (metrics per optimiser step), tags, and a
registered model version for the output.

An attempt after the first continues the MLflow run of its TrainingJob run (found by the
llmops.dev/run-id tag), so the loss curve of a resumed run is one curve, not two runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from llmops_trainer.config import HubModel, TrainerConfig
from llmops_trainer.errors import TrainerFailure

RUN_ID_TAG = "llmops.dev/run-id"
ATTEMPT_TAG = "llmops.dev/attempt"
# Bigger outputs are referenced (path, Hub repo and commit) instead of copied to the artifact store.
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024


def flat_params(config: TrainerConfig) -> dict[str, str]:
    """The training-relevant part of the config, flattened to MLflow params (a.b.c → value)."""
    raw = config.raw
    relevant = {
        key: raw[key]
        for key in ("method", "baseModel", "dataset", "evalDataset", "hyperparameters", "lora")
        if key in raw
    }
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        elif isinstance(value, list):
            out[prefix] = ",".join(str(v) for v in value)
        else:
            out[prefix] = str(value)

    walk("", relevant)
    out["runId"] = config.run_id
    return out


class MlflowTracker:
    """One MLflow run per TrainingJob run; every call after start() only warns on errors, except
    finish(), whose registration the completed event reports."""

    def __init__(self, config: TrainerConfig) -> None:
        assert config.mlflow is not None
        self.config = config
        self.settings = config.mlflow
        self.run_id: str | None = None
        self.client: Any = None

    def start(self) -> str:
        import mlflow
        from mlflow.tracking import MlflowClient

        settings = self.settings
        try:
            mlflow.set_tracking_uri(settings.tracking_uri)
            self.client = MlflowClient(tracking_uri=settings.tracking_uri)
            experiment = self.client.get_experiment_by_name(settings.experiment_name)
            experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else self.client.create_experiment(settings.experiment_name)
            )
            tags = {**settings.tags, RUN_ID_TAG: self.config.run_id}
            previous = self.client.search_runs(
                [experiment_id],
                filter_string=f"tags.`{RUN_ID_TAG}` = '{self.config.run_id}'",
                max_results=1,
            )
            if previous:
                self.run_id = previous[0].info.run_id
                self.client.update_run(self.run_id, status="RUNNING")
            else:
                run = self.client.create_run(experiment_id, tags=tags, run_name=self.config.run_id)
                self.run_id = run.info.run_id
                self.client.log_batch(
                    self.run_id,
                    params=[
                        mlflow.entities.Param(k, v[:6000])
                        for k, v in flat_params(self.config).items()
                    ],
                )
            for key, value in {**tags, ATTEMPT_TAG: str(self.config.attempt)}.items():
                self.client.set_tag(self.run_id, key, value)
        except Exception as err:
            raise TrainerFailure(
                "TrackingUnavailable",
                f"MLflow at {settings.tracking_uri} cannot start the run: {err}",
            ) from err
        return self.run_id

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import mlflow

        if self.run_id is None:
            return
        try:
            self.client.log_batch(
                self.run_id,
                metrics=[
                    mlflow.entities.Metric(key, value, int(_now_ms()), step)
                    for key, value in metrics.items()
                ],
            )
        except Exception as err:
            print(f"llmops-train: MLflow metrics at step {step} not logged: {err}", file=sys.stderr)

    def finish(self, output: dict[str, str]) -> str | None:
        """Logs the output, registers a model version when asked; returns its version."""
        assert self.run_id is not None
        settings = self.settings
        try:
            self._log_output(output)
            version = None
            if settings.registered_model_name:
                version = self._register(settings.registered_model_name, output)
            self.client.set_terminated(self.run_id, status="FINISHED")
            return version
        except Exception as err:
            raise TrainerFailure(
                "TrackingUnavailable",
                f"MLflow at {settings.tracking_uri} did not record the output: {err}",
            ) from err

    def fail(self) -> None:
        if self.run_id is None:
            return
        try:
            self.client.set_terminated(self.run_id, status="FAILED")
        except Exception as err:
            print(f"llmops-train: MLflow run not marked failed: {err}", file=sys.stderr)

    def _log_output(self, output: dict[str, str]) -> None:
        out_dir = Path(output["path"])
        size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
        with tempfile.TemporaryDirectory() as tmp:
            reference = Path(tmp) / "llmops-output.json"
            base = self.config.base_model
            reference.write_text(
                json.dumps(
                    {
                        **output,
                        "runId": self.config.run_id,
                        "baseModel": base.repo if isinstance(base, HubModel) else base.path,
                    },
                    indent=2,
                )
            )
            self.client.log_artifact(self.run_id, str(reference), "model")
        if size <= MAX_ARTIFACT_BYTES:
            self.client.log_artifacts(self.run_id, str(out_dir), "model")

    def _register(self, name: str, output: dict[str, str]) -> str:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
        except MlflowException as err:
            if "RESOURCE_ALREADY_EXISTS" not in str(err.error_code):
                raise
        tags = {**self.settings.tags, RUN_ID_TAG: self.config.run_id}
        if "repo" in output:
            tags["llmops.dev/hub-repo"] = output["repo"]
            tags["llmops.dev/hub-revision"] = output.get("revision", "")
        source = self.client.get_run(self.run_id).info.artifact_uri.rstrip("/") + "/model"
        version = self.client.create_model_version(
            name, source=source, run_id=self.run_id, tags=tags
        )
        return str(version.version)


def _now_ms() -> float:
    import time

    return time.time() * 1000
