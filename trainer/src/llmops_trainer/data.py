"""Datasets: JSON Lines from a local file (a ConfigMap or volume mounted into the pod, or a path on
the controller's machine) or a dataset on the Hub at a resolved commit, checked row by row against
the declared format before any training starts, so a bad line fails the run at once (DatasetFormat)
with its line number and field.

Formats (the rows TRL takes as they are):
  chat        {"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": "..."}, ...]}
  completion  {"prompt": "...", "completion": "..."}, or both as message lists
  preference  {"prompt": ..., "chosen": ..., "rejected": ...}: three strings, or a message list
              as prompt and assistant message lists as chosen and rejected
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llmops_trainer.config import Dataset
from llmops_trainer.errors import TrainerFailure

ROLES = ("system", "user", "assistant", "tool")
SHAPES = {
    "chat": '{"messages": [{"role": "user", "content": "..."},'
    ' {"role": "assistant", "content": "..."}]}',
    "completion": '{"prompt": "...", "completion": "..."}',
    "preference": '{"prompt": "...", "chosen": "...", "rejected": "..."}',
}

Row = dict[str, Any]


class RowError(Exception):
    """One row's problem; the caller adds where the row is."""


def load_rows(dataset: Dataset, *, which: str) -> list[Row]:
    """Reads and checks every row of a dataset; `which` is dataset or evalDataset."""
    field = f"spec.{which}.format"
    if dataset.path is not None:
        rows = list(_read_jsonl(dataset, which=which))
        where = "line"
    else:
        rows = _read_hub(dataset, which=which)
        where = "row"
    if not rows:
        raise TrainerFailure(
            "DatasetFormat",
            f"{which} {dataset.describe()} has no rows; a {dataset.format} dataset needs lines such"
            f" as {SHAPES[dataset.format]}",
            field=field,
        )
    checked: list[Row] = []
    for number, row in enumerate(rows, start=1):
        try:
            checked.append(check_row(row, dataset.format))
        except RowError as err:
            raise TrainerFailure(
                "DatasetFormat",
                f"{which} {dataset.describe()} {where} {number}: {err} (format {dataset.format}"
                f" expects {SHAPES[dataset.format]})",
                field=field,
            ) from err
    return checked


def _read_jsonl(dataset: Dataset, *, which: str) -> Iterable[object]:
    path = Path(str(dataset.path))
    try:
        f = path.open(encoding="utf-8")
    except OSError as err:
        raise TrainerFailure(
            "InvalidConfig",
            f"{which}.path {path} cannot be read: {err.strerror or err}; check the dataset source",
            field=f"spec.{which}",
        ) from err
    with f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise TrainerFailure(
                    "DatasetFormat",
                    f"{which} {path} line {number}: not valid JSON ({err.msg} at column"
                    f" {err.colno}); every line must be one JSON object",
                    field=f"spec.{which}.format",
                ) from err


def _read_hub(dataset: Dataset, *, which: str) -> list[Row]:
    # Imported here: `datasets` is slow to import and only Hub sources need it.
    import datasets
    from datasets.exceptions import DatasetGenerationError, DatasetNotFoundError
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    hub = dataset.hugging_face
    assert hub is not None
    try:
        loaded = datasets.load_dataset(
            hub.repo, revision=hub.revision, split=hub.split, token=os.environ.get("HF_TOKEN")
        )
    except (DatasetNotFoundError, RepositoryNotFoundError) as err:
        raise TrainerFailure(
            "InvalidConfig",
            f"{which}.huggingFace.repo {hub.repo} was not found on the Hub (or the token cannot"
            f" read it): {err}",
            field=f"spec.{which}.huggingFace.repo",
        ) from err
    except RevisionNotFoundError as err:
        raise TrainerFailure(
            "InvalidConfig",
            f"{which}.huggingFace.revision {hub.revision} does not exist in {hub.repo}: {err}",
            field=f"spec.{which}.huggingFace.revision",
        ) from err
    except DatasetGenerationError as err:
        # Rows whose fields differ in type from the others cannot share one Arrow schema.
        cause = err.__cause__ or err
        raise TrainerFailure(
            "DatasetFormat",
            f"{which} {dataset.describe()} cannot be read as {dataset.format} rows: {cause}"
            f" (format {dataset.format} expects {SHAPES[dataset.format]} on every line)",
            field=f"spec.{which}.format",
        ) from err
    except ValueError as err:
        # datasets raises ValueError for a split that the repository does not have.
        if "split" in str(err).lower():
            raise TrainerFailure(
                "InvalidConfig",
                f"{which}.huggingFace.split {hub.split} is not in {hub.repo}: {err}",
                field=f"spec.{which}.huggingFace.split",
            ) from err
        raise
    except OSError as err:
        raise TrainerFailure(
            "DatasetUnavailable", f"cannot download {which} {dataset.describe()}: {err}"
        ) from err
    return [dict(row) for row in loaded]  # type: ignore[arg-type]


def check_row(row: object, fmt: str) -> Row:
    """The row reduced to the fields its format uses; RowError says what is wrong."""
    if not isinstance(row, dict):
        raise RowError(f"must be a JSON object, got {type(row).__name__}")
    if fmt == "chat":
        messages = _messages(row, "messages")
        if not any(m["role"] == "assistant" for m in messages):
            raise RowError("messages has no assistant message, so there is nothing to learn")
        return {"messages": messages}
    if fmt == "completion":
        prompt, completion = _text_or_messages(row, "prompt"), _text_or_messages(row, "completion")
        if isinstance(prompt, str) != isinstance(completion, str):
            raise RowError("prompt and completion must both be strings or both message lists")
        return {"prompt": prompt, "completion": completion}
    if fmt == "preference":
        prompt = _text_or_messages(row, "prompt")
        chosen, rejected = _text_or_messages(row, "chosen"), _text_or_messages(row, "rejected")
        if not (isinstance(prompt, str) == isinstance(chosen, str) == isinstance(rejected, str)):
            raise RowError("prompt, chosen and rejected must all be strings or all message lists")
        if not isinstance(chosen, str):
            for name, answer in (("chosen", chosen), ("rejected", rejected)):
                if any(m["role"] != "assistant" for m in answer):
                    raise RowError(f"{name} must hold assistant messages only")
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    raise RowError(f"unknown format {fmt}")


def _text_or_messages(row: dict[str, Any], key: str) -> str | list[dict[str, str]]:
    value = row.get(key)
    if isinstance(value, str):
        if not value:
            raise RowError(f"field {key} is empty")
        return value
    if isinstance(value, list):
        return _messages(row, key)
    if value is None:
        raise RowError(f"field {key} is missing")
    raise RowError(
        f"field {key} must be a string or a list of messages, got {type(value).__name__}"
    )


def _messages(row: dict[str, Any], key: str) -> list[dict[str, str]]:
    value = row.get(key)
    if value is None:
        raise RowError(f"field {key} is missing")
    if not isinstance(value, list) or not value:
        raise RowError(f"field {key} must be a non-empty list of messages")
    out: list[dict[str, str]] = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RowError(f"{key}[{i}] must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise RowError(f"{key}[{i}].role must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(content, str):
            raise RowError(f"{key}[{i}].content must be a string, got {type(content).__name__}")
        out.append({"role": role, "content": content})
    return out
