"""Shared fixtures: a tiny model created from a config, a real MLflow server, a TLS progress
endpoint, and one real SFT run through the `llmops-train` entry point that several tests read."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "local" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TrainerRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_kb: int
    config: dict[str, Any]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


def run_trainer(
    config: dict[str, Any], workdir: Path, *, env: dict[str, str] | None = None
) -> TrainerRun:
    """Runs the llmops-train console script as a child process, as the local backend does."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"trainer-{config['attempt']}.json"
    path.write_text(json.dumps(config))
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(BIN / "llmops-train")],
        env={**os.environ, "TRAINER_CONFIG": str(path), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(timeout=600)
    seconds = time.monotonic() - start
    # The child's peak RSS (ru_maxrss of reaped children, in KB on Linux).
    import resource

    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return TrainerRun(proc.returncode, stdout, stderr, seconds, rss, config)


def sft_config(base: Path, work: Path, **hyper: Any) -> dict[str, Any]:
    return {
        "runId": "tickets-sft",
        "attempt": 1,
        "method": "sft",
        "baseModel": {"path": str(base)},
        "dataset": {"format": "chat", "path": str(DATA / "tickets-train.jsonl")},
        "evalDataset": {"format": "chat", "path": str(DATA / "tickets-eval.jsonl")},
        "hyperparameters": {
            "epochs": 1,
            "learningRate": 0.005,
            "lrScheduler": "cosine",
            "warmupRatio": 0.05,
            "batchSize": 8,
            "gradientAccumulationSteps": 1,
            "maxSeqLength": 256,
            "seed": 1,
            **hyper,
        },
        "output": {"dir": str(work / "output")},
        "checkpoints": {"dir": str(work / "checkpoints"), "saveSteps": 50},
        "progressEverySteps": 10,
    }


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama (hidden 64) with a BPE tokenizer trained on the ticket data."""
    from llmops_trainer.create_model import create_model

    out = tmp_path_factory.mktemp("tiny-model")
    create_model(DATA / "tickets-train.jsonl", out)
    return out


@dataclass
class MlflowServer:
    uri: str
    root: Path
    process: Any = None


@pytest.fixture(scope="session", autouse=True)
def _mlflow_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer | str]:
    """Starts a real MLflow server (SQLite backend, from the venv that the repository's test
    environment installs) when the session starts: it takes up to a minute on a loaded machine,
    so it comes up while the fast tests run. Yields why not, as a string, when it cannot start."""
    venv = Path(os.environ.get("LLMOPS_MLFLOW_VENV", Path.home() / ".cache/llmops/mlflow-venv"))
    mlflow = venv / "bin" / "mlflow"
    if not mlflow.is_file():
        yield (
            f"no MLflow server at {mlflow}: install it (the repository's test environment setup"
            " does) or set LLMOPS_MLFLOW_VENV"
        )
        return
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = MlflowServer(f"http://127.0.0.1:{port}", root)
    server.process = proc
    yield server
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="session")
def mlflow_server(_mlflow_process: MlflowServer | str) -> MlflowServer:
    """The MLflow server, once it answers /health. A missing install fails: it never skips."""
    if isinstance(_mlflow_process, str):
        pytest.fail(_mlflow_process, pytrace=False)
    server = _mlflow_process
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{server.uri}/health", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"MLflow server did not start:\n{(server.root / 'server.log').read_text()}")
        time.sleep(0.5)


@dataclass
class ProgressServer:
    url: str
    ca_file: Path
    token_file: Path
    token: str
    received: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture(scope="session")
def progress_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProgressServer]:
    """An HTTPS endpoint like the controller's progress route: records bearer token and body."""
    root = tmp_path_factory.mktemp("progress")
    cert, key = root / "server.crt", root / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    token_file = root / "token"
    token = "projected-sa-token-for-tests"
    token_file.write_text(token + "\n")
    server_state = ProgressServer("", cert, token_file, token)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            server_state.received.append((self.headers.get("Authorization"), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    server_state.url = f"https://127.0.0.1:{httpd.server_address[1]}/progress"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server_state
    httpd.shutdown()


@dataclass
class SftRun:
    run: TrainerRun
    work: Path
    mlflow: MlflowServer
    progress: ProgressServer


@pytest.fixture(scope="session")
def sft_run(
    tiny_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
    mlflow_server: MlflowServer,
    progress_server: ProgressServer,
) -> SftRun:
    """One real SFT run of the tiny model on the ticket data (200 steps, ~25 s on one core),
    tracked in MLflow and reporting to the TLS progress endpoint."""
    work = tmp_path_factory.mktemp("sft")
    config = sft_config(tiny_model, work, maxSteps=200)
    config["tracking"] = {
        "mlflow": {
            "trackingUri": mlflow_server.uri,
            "experimentName": "llmops/tests/tickets",
            "registeredModelName": "tickets-triage",
            "tags": {"llmops.dev/revision": "5d41402abc4b2a76b9719d911017c592ae0c1b2f"},
        }
    }
    run = run_trainer(
        config,
        work,
        env={
            "LLMOPS_PROGRESS_URL": progress_server.url,
            "LLMOPS_PROGRESS_TOKEN_FILE": str(progress_server.token_file),
            "LLMOPS_PROGRESS_CA_FILE": str(progress_server.ca_file),
        },
    )
    assert run.returncode == 0, run.stderr[-4000:]
    print(
        f"\nSFT run: {run.seconds:.1f} s wall, peak RSS {run.max_rss_kb / 1024:.0f} MB",
        file=sys.stderr,
    )
    return SftRun(run, work, mlflow_server, progress_server)
