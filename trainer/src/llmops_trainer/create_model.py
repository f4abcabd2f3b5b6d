"""llmops-create-model: a tiny causal LM made from a config, with nothing downloaded.

It trains a byte-level BPE tokenizer with `tokenizers` on the text of a JSONL dataset (chat,
completion or preference rows), sets a ChatML chat template on it (TRL needs one; its
{% generation %} markers let SFT train on the assistant's tokens only), builds a randomly
initialised Llama from a config (2 layers, hidden size 64 by default: ~200k parameters) and saves
both as a Hugging Face directory that `baseModel.path` can point at.

  llmops-create-model --data examples/local/data/tickets-train.jsonl --out /tmp/tiny-llama
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

PAD, BOS, EOS, START = "<|pad|>", "<|begin_of_text|>", "<|im_end|>", "<|im_start|>"

# ChatML. The assistant's answer and its end token are inside {% generation %}, so TRL's
# assistant_only_loss can mask everything else; generation stops at <|im_end|> (the EOS token).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
    "{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def dataset_texts(path: Path) -> Iterator[str]:
    """Every string in every row (messages' content, prompt, completion, chosen, rejected)."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield from _strings(json.loads(line))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "role":
                yield from _strings(item)


def train_tokenizer(texts: Iterator[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on texts, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS, START],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Role names and the template's newline are in every prompt: make sure they are learnt too.
    tokenizer.train_from_iterator([*texts, "system\nuser\nassistant\n"], trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=1024,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def create_model(
    data: Path,
    out: Path,
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    intermediate_size: int | None = None,
    max_positions: int = 512,
    seed: int = 0,
) -> dict[str, Any]:
    """Writes the tokenizer and a randomly initialised Llama to out; returns a summary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(dataset_texts(data), vocab_size)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {
        "path": str(out),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocabSize": len(tokenizer),
        "layers": layers,
        "hiddenSize": hidden_size,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="llmops-create-model", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="JSONL to train the tokenizer on")
    parser.add_argument("--out", required=True, type=Path, help="directory to write the model to")
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--max-positions", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data} is not a file")
    summary = create_model(
        args.data,
        args.out,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        max_positions=args.max_positions,
        seed=args.seed,
    )
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
