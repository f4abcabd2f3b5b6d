"""Dataset checks: a row in the wrong shape fails the run before training, naming the line and
the field; the shipped ticket datasets pass, and the held-out set is not a copy of the training
set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops_trainer.config import Dataset
from llmops_trainer.data import load_rows
from llmops_trainer.errors import TrainerFailure

from .conftest import DATA

GOOD_CHAT = {
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "bug"}]
}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# (format, bad row placed on line 3, words the message must contain)
BAD_ROWS = [
    ("chat", {"text": "hello"}, "line 3: field messages is missing"),
    ("chat", {"messages": []}, "line 3: field messages must be a non-empty list"),
    ("chat", {"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role must be one of"),
    (
        "chat",
        {"messages": [{"role": "user", "content": 3}]},
        "messages[0].content must be a string",
    ),
    ("chat", {"messages": [{"role": "user", "content": "x"}]}, "no assistant message"),
    ("chat", "[1, 2]", "line 3: must be a JSON object"),
    ("chat", '{"messages": [', "line 3: not valid JSON"),
    ("completion", {"prompt": "a"}, "line 3: field completion is missing"),
    (
        "completion",
        {"prompt": "a", "completion": [{"role": "assistant", "content": "b"}]},
        "must both be strings",
    ),
    ("preference", {"prompt": "a", "chosen": "b"}, "line 3: field rejected is missing"),
    ("preference", {"prompt": "a", "chosen": "b", "rejected": ""}, "field rejected is empty"),
    (
        "preference",
        {
            "prompt": [{"role": "user", "content": "a"}],
            "chosen": [{"role": "user", "content": "b"}],
            "rejected": [{"role": "assistant", "content": "c"}],
        },
        "chosen must hold assistant messages only",
    ),
]


def good_row(fmt: str) -> dict[str, Any]:
    if fmt == "chat":
        return GOOD_CHAT
    if fmt == "completion":
        return {"prompt": "Ticket: refund please\nCategory:", "completion": " billing"}
    return {"prompt": "Ticket: refund please", "chosen": "billing", "rejected": "bug"}


@pytest.mark.parametrize(("fmt", "row", "words"), BAD_ROWS)
def test_a_bad_row_names_its_line_and_field(tmp_path: Path, fmt: str, row: Any, words: str) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [good_row(fmt), good_row(fmt), row])
    with pytest.raises(TrainerFailure) as caught:
        load_rows(Dataset(fmt, path=str(path)), which="dataset")  # type: ignore[arg-type]
    assert caught.value.reason == "DatasetFormat"
    assert caught.value.field == "spec.dataset.format"
    assert words in caught.value.message
    assert str(path) in caught.value.message


def test_an_empty_dataset_is_a_format_error_of_the_eval_dataset_too(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(TrainerFailure) as caught:
        load_rows(Dataset("chat", path=str(path)), which="evalDataset")
    assert (caught.value.reason, caught.value.field) == ("DatasetFormat", "spec.evalDataset.format")
    assert "has no rows" in caught.value.message


def test_a_missing_file_is_a_config_error_of_the_source(tmp_path: Path) -> None:
    with pytest.raises(TrainerFailure) as caught:
        load_rows(Dataset("chat", path=str(tmp_path / "absent.jsonl")), which="dataset")
    assert (caught.value.reason, caught.value.field) == ("InvalidConfig", "spec.dataset")


def test_rows_keep_only_the_fields_of_their_format(tmp_path: Path) -> None:
    row = {"id": 7, "messages": [{"role": "user", "content": "a", "name": "sam"},
                                 {"role": "assistant", "content": "bug"}]}  # fmt: skip
    path = write_jsonl(tmp_path / "data.jsonl", [row, ""])  # a blank line is skipped
    assert load_rows(Dataset("chat", path=str(path)), which="dataset") == [
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "bug"}]}
    ]


@pytest.mark.parametrize(
    ("name", "fmt", "count"),
    [
        ("tickets-train.jsonl", "chat", 400),
        ("tickets-eval.jsonl", "chat", 40),
        ("tickets-preference.jsonl", "preference", 120),
    ],
)
def test_the_shipped_datasets_pass_their_format(name: str, fmt: str, count: int) -> None:
    rows = load_rows(Dataset(fmt, path=str(DATA / name)), which="dataset")  # type: ignore[arg-type]
    assert len(rows) == count


def test_held_out_tickets_are_not_copies_and_cover_every_category() -> None:
    def tickets(name: str) -> list[tuple[str, str]]:
        rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()]
        return [(r["messages"][1]["content"], r["messages"][2]["content"]) for r in rows]

    train, held_out = tickets("tickets-train.jsonl"), tickets("tickets-eval.jsonl")
    assert not {text for text, _ in train} & {text for text, _ in held_out}
    assert {label for _, label in held_out} == {"billing", "bug", "account", "feature"}
    assert {label for _, label in train} == {"billing", "bug", "account", "feature"}
