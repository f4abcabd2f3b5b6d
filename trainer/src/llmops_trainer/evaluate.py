"""llmops-evaluate: exact match of a model's generated answers on held-out chat JSONL.

For each row the messages up to the last assistant message are the prompt and that message is
the expected answer; the model answers greedily and scores 1 when its answer, trimmed, equals the
expected one. Takes a full model directory or a LoRA adapter directory (its base model is read
from adapter_config.json). Prints one JSON object: {"n", "exactMatch", "correct", ...}.

  llmops-evaluate --model /tmp/run/output --data examples/local/data/tickets-eval.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")


def load_model(model_dir: Path) -> tuple[Any, Any]:
    """(model, tokenizer) from a full model directory or a LoRA adapter directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_config = model_dir / "adapter_config.json"
    if adapter_config.is_file():
        from peft import PeftModel

        base_path = json.loads(adapter_config.read_text())["base_model_name_or_path"]
        base = AutoModelForCausalLM.from_pretrained(base_path)
        has_tokenizer = (model_dir / "tokenizer_config.json").is_file()
        tokenizer = AutoTokenizer.from_pretrained(model_dir if has_tokenizer else base_path)
        model = PeftModel.from_pretrained(base, model_dir)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model.eval()
    return model, tokenizer


def read_items(path: Path) -> list[tuple[list[dict[str, str]], str]]:
    """(prompt messages, expected answer) per chat row."""
    items = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            messages = json.loads(line).get("messages")
            if not isinstance(messages, list):
                raise SystemExit(f"{path} line {number}: a chat row needs messages")
            last = max(
                (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1
            )
            if last < 0:
                raise SystemExit(f"{path} line {number}: no assistant message to compare with")
            items.append((messages[:last], str(messages[last]["content"])))
    return items


def evaluate(
    model_dir: Path, data: Path, *, max_new_tokens: int = 8, batch_size: int = 16
) -> dict[str, Any]:
    import torch

    start = time.monotonic()
    model, tokenizer = load_model(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    items = read_items(data)
    predictions: list[str] = []
    for offset in range(0, len(items), batch_size):
        batch = items[offset : offset + batch_size]
        prompts = [
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            for messages, _ in batch
        ]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            generated = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new_tokens = generated[:, encoded["input_ids"].shape[1] :]
        predictions += [
            t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        ]
    correct = sum(
        p == expected.strip() for p, (_, expected) in zip(predictions, items, strict=True)
    )
    n = len(items)
    return {
        "n": n,
        "exactMatch": correct / n if n else 0.0,
        "correct": correct,
        "model": str(model_dir),
        "data": str(data),
        "seconds": round(time.monotonic() - start, 2),
        "examples": [
            {"expected": expected, "predicted": p}
            for p, (_, expected) in list(zip(predictions, items, strict=True))[:5]
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="llmops-evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="model or LoRA adapter directory")
    parser.add_argument("--data", required=True, type=Path, help="held-out chat JSONL")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    result = evaluate(args.model, args.data, max_new_tokens=args.max_new_tokens)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
