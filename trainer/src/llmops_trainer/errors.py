"""The one error the trainer reports: a reason from the contract, a message that says what to do,
and the TrainingJob field at fault. Whatever is raised ends as exactly one `failed` event."""

from __future__ import annotations

# Reasons no retry can fix: permanentTrainerReasons in
# controller/backends/training/trainer-contract.ts.
PERMANENT_REASONS = frozenset(
    {
        "InvalidConfig",
        "DatasetFormat",
        "BaseModelNotFound",
        "InvalidHyperparameters",
        "UnsupportedMethod",
    }
)


class TrainerFailure(Exception):
    """A failure with a contract reason; `retryable` follows from the reason."""

    def __init__(self, reason: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field

    @property
    def retryable(self) -> bool:
        return self.reason not in PERMANENT_REASONS


def spec_field(config_path: str) -> str | None:
    """The TrainingJob field that a TrainerConfig path comes from, or None for the fields the
    controller makes itself (runId, attempt, checkpoints, output.dir's run directory)."""
    head = config_path.split(".", 1)[0].split("[", 1)[0]
    if head in {"runId", "attempt", "checkpoints", "progressEverySteps"}:
        return None
    if config_path == "output.dir":
        return "spec.output"
    # A local dataset file stands for any of the CRD's sources (path, configMap, volume).
    if config_path in {"dataset.path", "evalDataset.path"}:
        return f"spec.{head}"
    return f"spec.{config_path}"
