"""A real SFT run of a tiny model through the `llmops-train` entry point: its events, its output,
its MLflow record, its progress POSTs, a resume on attempt 2, and whether it learnt anything."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from .conftest import BIN, DATA, SftRun


def test_stdout_holds_only_contract_events_in_order(sft_run: SftRun) -> None:
    run = sft_run.run
    lines = run.stdout.splitlines()
    assert lines, run.stderr[-2000:]
    assert all(json.loads(line)["llmops"] == 1 for line in lines)
    names = [e["event"] for e in run.events]
    assert names[0] == "started"
    assert names[-1] == "completed"
    assert set(names) == {"started", "progress", "checkpoint", "completed"}
    assert run.of("started")[0] == {
        "llmops": 1, "event": "started", "runId": "tickets-sft", "attempt": 1, "totalSteps": 200,
    }  # fmt: skip


def test_progress_reports_a_falling_loss_every_ten_steps_and_eval_loss(sft_run: SftRun) -> None:
    progress = sft_run.run.of("progress")
    train = [p for p in progress if "loss" in p]
    assert [p["step"] for p in train] == list(range(10, 201, 10))
    assert all(p["totalSteps"] == 200 and p["learningRate"] > 0 for p in train)
    assert train[-1]["loss"] < train[0]["loss"] / 10
    evals = [p for p in progress if "evalLoss" in p]
    assert [p["step"] for p in evals] == [50, 100, 150, 200]
    assert evals[-1]["evalLoss"] < 1.0


def test_checkpoints_are_announced_where_they_were_written(sft_run: SftRun) -> None:
    checkpoints = sft_run.run.of("checkpoint")
    assert [c["step"] for c in checkpoints] == [50, 100, 150, 200]
    assert Path(checkpoints[-1]["path"], "trainer_state.json").is_file()
    # save_total_limit keeps the newest two.
    kept = {p.name for p in (sft_run.work / "checkpoints").glob("checkpoint-*")}
    assert "checkpoint-200" in kept and "checkpoint-50" not in kept and len(kept) == 2


def test_completed_names_a_loadable_output_directory(sft_run: SftRun) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    done = sft_run.run.of("completed")[0]
    assert done["output"] == {"path": str(sft_run.work / "output")}
    assert done["metrics"]["steps"] == 200
    assert done["metrics"]["evalLoss"] < 1.0
    assert done["metrics"]["trainLoss"] > 0
    model = AutoModelForCausalLM.from_pretrained(done["output"]["path"])
    tokenizer = AutoTokenizer.from_pretrained(done["output"]["path"])
    assert tokenizer.chat_template and model.config.num_hidden_layers == 2
    assert sft_run.run.returncode == 0


def test_every_event_was_posted_over_tls_with_the_bearer_token(sft_run: SftRun) -> None:
    received = sft_run.progress.received
    assert [body for _, body in received] == sft_run.run.events
    assert {auth for auth, _ in received} == {f"Bearer {sft_run.progress.token}"}


def test_mlflow_has_params_the_loss_curve_tags_and_a_model_version(sft_run: SftRun) -> None:
    from mlflow.tracking import MlflowClient

    done = sft_run.run.of("completed")[0]
    assert done["mlflow"]["modelVersion"] == "1"
    client = MlflowClient(tracking_uri=sft_run.mlflow.uri)
    run = client.get_run(done["mlflow"]["runId"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["llmops.dev/run-id"] == "tickets-sft"
    assert run.data.tags["llmops.dev/revision"] == "5d41402abc4b2a76b9719d911017c592ae0c1b2f"
    assert run.data.params["method"] == "sft"
    assert run.data.params["hyperparameters.learningRate"] == "0.005"
    curve = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in sorted(curve, key=lambda m: m.step)] == list(range(10, 201, 10))
    assert {m.step for m in client.get_metric_history(run.info.run_id, "eval_loss")} >= {50, 200}
    version = client.get_model_version("tickets-triage", "1")
    assert version.run_id == run.info.run_id
    assert version.tags["llmops.dev/revision"] == "5d41402abc4b2a76b9719d911017c592ae0c1b2f"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/config.json", "model/llmops-output.json"} <= artifacts


def test_attempt_two_resumes_from_the_newest_checkpoint_and_sigterm_is_retryable(
    sft_run: SftRun,
) -> None:
    """Attempt 2 of the run starts from the newest checkpoint of attempt 1; then it is evicted
    (SIGTERM) mid-run, which it reports as a retryable failure for attempt 3 to resume."""
    config = json.loads(json.dumps(sft_run.run.config))
    config.pop("tracking")
    config["attempt"] = 2
    config["hyperparameters"]["maxSteps"] = 5000
    path = sft_run.work / "trainer-2.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [str(BIN / "llmops-train"), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "progress":
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=120)
    seen += [json.loads(line) for line in rest.splitlines()]
    started = seen[0]
    assert started["event"] == "started"
    assert started["resumedFromStep"] == 200
    assert started["attempt"] == 2
    # Only the steps after the checkpoint ran: the first progress is the first after 200.
    assert seen[1]["event"] == "progress"
    assert seen[1]["step"] == 210
    assert proc.returncode == 143
    assert seen[-1] == {
        "llmops": 1,
        "event": "failed",
        "reason": "Terminated",
        "message": "the trainer got SIGTERM; the next attempt resumes",
        "retryable": True,
    }


def test_the_fine_tuned_model_answers_held_out_tickets_better(
    sft_run: SftRun, tiny_model: Path
) -> None:
    from llmops_trainer.evaluate import evaluate

    before = evaluate(tiny_model, DATA / "tickets-eval.jsonl")
    after = evaluate(sft_run.work / "output", DATA / "tickets-eval.jsonl")
    print(
        f"\nexact match on {after['n']} held-out tickets: {before['exactMatch']:.2f} untrained"
        f" -> {after['exactMatch']:.2f} after {sft_run.run.seconds:.0f} s of training",
        file=sys.stderr,
    )
    assert before["n"] == after["n"] == 40
    assert before["exactMatch"] <= 0.25
    assert after["exactMatch"] >= 0.8
    assert after["exactMatch"] - before["exactMatch"] >= 0.5


def test_the_evaluate_cli_prints_one_json_object(sft_run: SftRun, capsys) -> None:
    from llmops_trainer.evaluate import main

    main(["--model", str(sft_run.work / "output"), "--data", str(DATA / "tickets-eval.jsonl")])
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"n", "exactMatch", "correct"}
    assert result["correct"] == round(result["exactMatch"] * result["n"])
