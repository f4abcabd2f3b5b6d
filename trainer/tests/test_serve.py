"""llmops-serve as the local serving backend runs it: the console script as a child process on
a tiny model, spoken to over real HTTP (chat completions, streaming, models, health, errors)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmops_trainer.serve import RequestError, parse_generation

from .conftest import BIN

MESSAGES = [
    {"role": "system", "content": "Classify the ticket."},
    {"role": "user", "content": "My invoice is wrong"},
]


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    listening: dict[str, Any]

    def request(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        out = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), out

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, _, out = self.request(method, path, body)
        return status, json.loads(out)


def start_server(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [str(BIN / "llmops-serve"), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"llmops-serve exited: {proc.wait()} {proc.stderr.read()}")  # type: ignore[union-attr]
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[Server]:
    proc, listening = start_server("--model", str(tiny_model), "--served-name", "tiny")
    srv = Server(proc, listening["port"], listening)
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    assert ready["event"] == "ready", ready
    yield srv
    stop(proc)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_prints_the_port_it_listens_on_then_ready(server: Server) -> None:
    assert server.listening == {
        "llmops": 1,
        "event": "listening",
        "port": server.port,
        "host": "127.0.0.1",
    }
    assert server.port > 0
    assert server.json("GET", "/health") == (200, {"status": "ok"})


def test_health_is_503_while_the_model_loads(tiny_model: Path) -> None:
    proc, listening = start_server("--model", str(tiny_model))
    try:
        # The socket is bound before the model loads: the first answer is 503 or, on a fast
        # machine, already 200; it is never anything else, and it ends at 200.
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", listening["port"], timeout=10)
            conn.request("GET", "/health")
            resp = conn.getresponse()
            seen.append((resp.status, json.loads(resp.read())))
            conn.close()
            if resp.status == 200:
                break
        assert seen[-1] == (200, {"status": "ok"})
        assert all(s in ((503, {"status": "loading"}), (200, {"status": "ok"})) for s in seen)
        if seen[0][0] == 503:
            status, _ = Server(proc, listening["port"], listening).json(
                "POST", "/v1/chat/completions", {"messages": MESSAGES}
            )
            assert status in (200, 503)
    finally:
        stop(proc)


def test_models_lists_the_served_name(server: Server) -> None:
    status, body = server.json("GET", "/v1/models")
    assert status == 200
    assert [m["id"] for m in body["data"]] == ["tiny"]
    assert body["object"] == "list"


def test_chat_completion_greedy_matches_the_evaluator(server: Server, tiny_model: Path) -> None:
    # Serving and llmops-evaluate format prompts the same way (the chat template with the
    # generation prompt) and decode greedily: the same answer for the same messages.
    from llmops_trainer.evaluate import load_model

    model, tokenizer = load_model(tiny_model)
    prompt = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(
        **encoded,
        max_new_tokens=16,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    new = out[0, encoded["input_ids"].shape[1] :]
    expected = tokenizer.decode(new, skip_special_tokens=True)

    status, body = server.json(
        "POST",
        "/v1/chat/completions",
        {"model": "tiny", "messages": MESSAGES, "max_tokens": 16, "temperature": 0},
    )
    assert status == 200, body
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": expected}
    assert body["model"] == "tiny"
    assert body["object"] == "chat.completion"
    assert body["usage"]["prompt_tokens"] == encoded["input_ids"].shape[1]
    assert body["usage"]["completion_tokens"] == len(new)
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + len(new)
    assert choice["finish_reason"] == ("length" if len(new) == 16 else "stop")


def test_max_tokens_bounds_the_answer(server: Server) -> None:
    status, body = server.json(
        "POST", "/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 3, "temperature": 0}
    )
    assert status == 200
    assert body["usage"]["completion_tokens"] <= 3


def test_sampling_with_a_seed_is_reproducible(server: Server) -> None:
    request = {"messages": MESSAGES, "max_tokens": 12, "temperature": 1.5, "seed": 7}
    first = server.json("POST", "/v1/chat/completions", request)[1]
    second = server.json("POST", "/v1/chat/completions", request)[1]
    assert first["choices"][0]["message"] == second["choices"][0]["message"]


def test_stream_sends_sse_chunks_that_add_up_to_the_answer(server: Server) -> None:
    request = {"messages": MESSAGES, "max_tokens": 16, "temperature": 0}
    whole = server.json("POST", "/v1/chat/completions", request)[1]
    status, headers, raw = server.request(
        "POST",
        "/v1/chat/completions",
        {**request, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream"
    events = [e for e in raw.decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == whole["choices"][0]["finish_reason"]
    assert chunks[-1]["usage"] == whole["usage"]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"content": "x"}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        ({"messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"messages": MESSAGES, "max_tokens": "8"}, "max_tokens"),
        ({"messages": MESSAGES, "temperature": 3}, "temperature"),
        ({"messages": MESSAGES, "top_p": 0}, "top_p"),
        ({"messages": MESSAGES, "n": 2}, "n"),
        ({"messages": MESSAGES, "stream": "yes"}, "stream"),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    server: Server, body: dict[str, Any], param: str
) -> None:
    status, answer = server.json("POST", "/v1/chat/completions", body)
    assert status == 400
    assert answer["error"]["param"] == param
    assert answer["error"]["type"] == "invalid_request_error"
    with pytest.raises(RequestError):
        parse_generation(body)


def test_text_parts_are_joined() -> None:
    g = parse_generation(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"text": "b"}]}]}
    )
    assert g.messages == [{"role": "user", "content": "ab"}]


def test_body_that_is_not_json_is_400(server: Server) -> None:
    status, _, out = server.request("POST", "/v1/chat/completions", raw=b"{not json")
    assert status == 400
    assert "not JSON" in json.loads(out)["error"]["message"]


def test_body_over_the_limit_is_413(server: Server) -> None:
    big = json.dumps({"messages": [{"role": "user", "content": "x" * (1 << 20)}]}).encode()
    status, _, out = server.request("POST", "/v1/chat/completions", raw=big)
    assert status == 413
    assert "limit is 1048576 bytes" in json.loads(out)["error"]["message"]
    # The server still answers afterwards.
    assert server.json("GET", "/health")[0] == 200


def test_unknown_routes_are_404(server: Server) -> None:
    assert server.json("GET", "/v1/nothing")[0] == 404
    assert server.json("POST", "/v1/completions", {"prompt": "x"})[0] == 404


def test_serves_a_lora_adapter_on_its_base(tiny_model: Path, tmp_path: Path) -> None:
    # A LoRA adapter made with PEFT (B initialised off zero so it changes the answer).
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    )
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 2.0)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)

    proc, listening = start_server(
        "--model", str(tiny_model), "--adapter", str(adapter), "--served-name", "tuned"
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        srv = Server(proc, listening["port"], listening)
        status, body = srv.json(
            "POST", "/v1/chat/completions", {"messages": MESSAGES, "temperature": 0}
        )
        assert status == 200, body
        assert srv.json("GET", "/v1/models")[1]["data"][0]["id"] == "tuned"
    finally:
        stop(proc)


def test_a_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "llmops-serve"), "--model", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "no config.json there" in proc.stderr


def test_sixteen_tokens_latency(server: Server) -> None:
    """Measured, not asserted on time: 16 greedy tokens of the tiny model (printed)."""
    request = {"messages": MESSAGES, "max_tokens": 16, "temperature": 0}
    server.json("POST", "/v1/chat/completions", request)  # warm-up
    seconds = []
    tokens = []
    for _ in range(10):
        start = time.monotonic()
        status, body = server.json("POST", "/v1/chat/completions", request)
        seconds.append(time.monotonic() - start)
        assert status == 200
        tokens.append(body["usage"]["completion_tokens"])
    seconds.sort()
    print(
        f"\nllmops-serve: {tokens[0]} tokens, median {seconds[5] * 1000:.0f} ms,"
        f" min {seconds[0] * 1000:.0f} ms over 10 requests",
        file=sys.stderr,
    )
    assert all(t >= 1 for t in tokens)
