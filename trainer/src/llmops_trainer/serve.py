"""llmops-serve: the reference serving runtime, a small OpenAI-compatible server for CPU.

One model (a Hugging Face directory, optionally with a PEFT LoRA adapter) behind a stdlib
threaded HTTP server: `POST /v1/chat/completions` (the tokenizer's chat template, as
llmops-evaluate builds prompts; `max_tokens`, `temperature` (0 is greedy), `top_p`, `seed`,
`stream` as server-sent events), `GET /v1/models`, and `GET /health` (503 while the model loads,
200 once it answers). One generation runs at a time; requests queue on a lock.

On stdout it prints JSON lines the controller reads: {"llmops":1,"event":"listening","port":N}
once the socket is bound, then {"llmops":1,"event":"ready",...} once the model is loaded.

  llmops-serve --model /tmp/tiny-llama --port 0
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

MAX_BODY_BYTES = 1 << 20
MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 16


class RequestError(Exception):
    """A request the server refuses: the HTTP status and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


@dataclass
class Generation:
    """One chat completion's parameters, checked."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stream: bool
    include_usage: bool


def load(model: Path, adapter: Path | None) -> tuple[Any, Any]:
    """(model, tokenizer): a full model directory, with a LoRA adapter on it when given. A model
    directory that is itself an adapter is loaded on its base, as llmops-evaluate does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmops_trainer.evaluate import load_model

    if adapter is None:
        return load_model(model)
    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(model)
    has_tokenizer = (adapter / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(adapter if has_tokenizer else model)
    served = PeftModel.from_pretrained(base, adapter)
    served.eval()
    return served, tokenizer


def parse_generation(body: Any) -> Generation:
    """The chat completion request, or a RequestError (400) that names the field."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty array", param="messages")
    checked: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise RequestError(400, f"messages[{i}] needs a string role", param=f"messages[{i}]")
        content = m.get("content")
        if isinstance(content, list):
            # The array form: text parts only.
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            if not all(isinstance(p, str) for p in parts) or len(parts) != len(content):
                raise RequestError(
                    400,
                    f"messages[{i}].content: only text parts are supported",
                    param=f"messages[{i}].content",
                )
            content = "".join(parts)  # type: ignore[arg-type]
        if not isinstance(content, str):
            raise RequestError(
                400, f"messages[{i}].content must be a string", param=f"messages[{i}].content"
            )
        checked.append({"role": m["role"], "content": content})

    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", DEFAULT_MAX_TOKENS))
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if (
        not isinstance(max_tokens, int)
        or isinstance(max_tokens, bool)
        or not 1 <= max_tokens <= MAX_TOKENS_LIMIT
    ):
        raise RequestError(
            400, f"max_tokens must be an integer from 1 to {MAX_TOKENS_LIMIT}", param="max_tokens"
        )
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0.0:
        raise RequestError(400, "top_p must be greater than 0", param="top_p")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise RequestError(400, "seed must be an integer", param="seed")
    n = body.get("n", 1)
    if n not in (1, None):
        raise RequestError(400, "n: only 1 choice per request is supported", param="n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(400, "stream must be a boolean", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError(400, "stream_options must be an object", param="stream_options")
    return Generation(
        checked, max_tokens, temperature, top_p, seed, stream, options.get("include_usage") is True
    )


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError(400, f"{name} must be a number from {low:g} to {high:g}", param=name)
    return float(value)


class Runtime:
    """The loaded model; generations run one at a time."""

    def __init__(self, served_name: str) -> None:
        self.served_name = served_name
        self.created = int(time.time())
        self.model: Any = None
        self.tokenizer: Any = None
        self.lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.model is not None

    def load(self, model: Path, adapter: Path | None) -> None:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        loaded, tokenizer = load(model, adapter)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.model = loaded

    def _inputs(self, g: Generation) -> Any:
        prompt = self.tokenizer.apply_chat_template(
            g.messages, tokenize=False, add_generation_prompt=True
        )
        return self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)

    def _kwargs(self, g: Generation, encoded: Any) -> dict[str, Any]:
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": g.temperature, "top_p": g.top_p}
            if g.temperature > 0
            else {"do_sample": False}
        )
        return {
            **encoded,
            **sampling,
            "max_new_tokens": g.max_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }

    def _finish(self, new_tokens: Any, g: Generation) -> str:
        ended = len(new_tokens) > 0 and int(new_tokens[-1]) == self.tokenizer.eos_token_id
        return "stop" if ended or len(new_tokens) < g.max_tokens else "length"

    def complete(self, g: Generation) -> tuple[str, str, int, int]:
        """(text, finish reason, prompt tokens, completion tokens)."""
        import torch

        encoded = self._inputs(g)
        with self.lock, torch.no_grad():
            if g.seed is not None:
                torch.manual_seed(g.seed)
            out = self.model.generate(**self._kwargs(g, encoded))
        prompt_tokens = encoded["input_ids"].shape[1]
        new_tokens = out[0, prompt_tokens:]
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        return text, self._finish(new_tokens, g), prompt_tokens, len(new_tokens)

    def stream(self, g: Generation, emit: Any) -> tuple[str, int, int]:
        """Calls emit(text) per decoded piece; returns (finish reason, prompt, completion)."""
        import torch
        from transformers import TextIteratorStreamer

        encoded = self._inputs(g)
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with torch.no_grad():
                    result["out"] = self.model.generate(
                        **self._kwargs(g, encoded), streamer=streamer
                    )
            except BaseException as error:  # surfaced to the request thread below
                result["error"] = error
                streamer.end()

        with self.lock:
            if g.seed is not None:
                torch.manual_seed(g.seed)
            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            try:
                for piece in streamer:
                    if piece:
                        emit(piece)
            finally:
                thread.join()
        if "error" in result:
            raise result["error"]
        prompt_tokens = encoded["input_ids"].shape[1]
        new_tokens = result["out"][0, prompt_tokens:]
        return self._finish(new_tokens, g), prompt_tokens, len(new_tokens)


def make_handler(runtime: Runtime, max_body: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "llmops-serve/0.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # stdout carries the controller's JSON lines; no access log

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: RequestError) -> None:
            kind = "invalid_request_error" if error.status < 500 else "server_error"
            if error.status == 413:
                self.close_connection = True  # the unread body stays on the socket
            self._json(
                error.status,
                {
                    "error": {
                        "message": str(error),
                        "type": kind,
                        "param": error.param,
                        "code": None,
                    }
                },
            )

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/health":
                if runtime.ready:
                    self._json(200, {"status": "ok"})
                else:
                    self._json(503, {"status": "loading"})
            elif path == "/v1/models":
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {
                                "id": runtime.served_name,
                                "object": "model",
                                "created": runtime.created,
                                "owned_by": "llmops",
                            }
                        ],
                    },
                )
            else:
                self._error(RequestError(404, f"no route GET {path}"))

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path != "/v1/chat/completions":
                    self._drain()
                    raise RequestError(404, f"no route POST {path}")
                body = self._body()
                g = parse_generation(body)
                if not runtime.ready:
                    raise RequestError(503, "the model is still loading; retry when /health is 200")
            except RequestError as error:
                self._error(error)
                return
            if g.stream:
                self._stream(g)
            else:
                text, finish, prompt_tokens, completion_tokens = runtime.complete(g)
                self._json(
                    200,
                    {
                        "id": f"chatcmpl-{uuid.uuid4().hex}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": runtime.served_name,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": finish,
                            }
                        ],
                        "usage": _usage(prompt_tokens, completion_tokens),
                    },
                )

        def _drain(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= max_body:
                self.rfile.read(length)
            elif length > 0:
                self.close_connection = True

        def _body(self) -> Any:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                self.close_connection = True
                raise RequestError(411, "send the request body with a Content-Length")
            raw = self.headers.get("Content-Length")
            try:
                length = int(raw) if raw is not None else -1
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                raise RequestError(411, "send the request body with a Content-Length")
            if length > max_body:
                raise RequestError(
                    413, f"the request body is {length} bytes; the limit is {max_body} bytes"
                )
            data = self.rfile.read(length)
            try:
                return json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise RequestError(400, f"the request body is not JSON: {error}") from error

        def _stream(self, g: Generation) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            ident = f"chatcmpl-{uuid.uuid4().hex}"
            created = int(time.time())

            def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> dict[str, Any]:
                return {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": runtime.served_name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    **extra,
                }

            def send(event: str) -> None:
                data = event.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            send(f"data: {json.dumps(chunk({'role': 'assistant', 'content': ''}, None))}\n\n")
            finish, prompt_tokens, completion_tokens = runtime.stream(
                g, lambda piece: send(f"data: {json.dumps(chunk({'content': piece}, None))}\n\n")
            )
            send(f"data: {json.dumps(chunk({}, finish))}\n\n")
            if g.include_usage:
                usage = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": runtime.served_name,
                    "choices": [],
                    "usage": _usage(prompt_tokens, completion_tokens),
                }
                send(f"data: {json.dumps(usage)}\n\n")
            send("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": int(prompt_tokens),
        "completion_tokens": int(completion_tokens),
        "total_tokens": int(prompt_tokens + completion_tokens),
    }


def event(name: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"llmops": 1, "event": name, **fields}) + "\n")
    sys.stdout.flush()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="llmops-serve", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="model directory to serve")
    parser.add_argument("--adapter", type=Path, help="a PEFT LoRA adapter directory on --model")
    parser.add_argument("--served-name", help="the model id in /v1/models (default: the dir name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES)
    args = parser.parse_args(argv)
    if (
        not (args.model / "config.json").is_file()
        and not (args.model / "adapter_config.json").is_file()
    ):
        parser.error(f"--model {args.model}: no config.json there (not a model directory)")
    if args.adapter is not None and not (args.adapter / "adapter_config.json").is_file():
        parser.error(f"--adapter {args.adapter}: no adapter_config.json there (not a LoRA adapter)")

    runtime = Runtime(args.served_name or args.model.resolve().name)
    httpd = ThreadingHTTPServer((args.host, args.port), make_handler(runtime, args.max_body_bytes))
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    # SIGTERM (the controller removing a revision) shuts down like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    event("listening", port=port, host=args.host)
    started = time.monotonic()
    try:
        runtime.load(args.model, args.adapter)
        event(
            "ready",
            port=port,
            model=runtime.served_name,
            loadSeconds=round(time.monotonic() - started, 2),
        )
        while thread.is_alive():
            thread.join(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        httpd.server_close()
    event("stopped", port=port)


if __name__ == "__main__":
    main()
