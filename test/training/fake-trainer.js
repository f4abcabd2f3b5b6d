#!/usr/bin/env node
// A stand-in for the reference trainer (trainer/) that speaks the same contract in milliseconds:
// reads the config at TRAINER_CONFIG, prints the JSON-line records on stdout, exits. Tests steer
// it through the environment:
//   FAKE_TRAINER_MODE        succeed (default) | fail | kill | exit | hang | stubborn
//   FAKE_TRAINER_REASON      fail: the failed record's reason (default DatasetFormat)
//   FAKE_TRAINER_RETRYABLE   fail: "true" to mark the record retryable
//   FAKE_TRAINER_STARTS      a file this process appends its pid to, once per start
//   FAKE_TRAINER_ENV_OUT     a file this process writes its environment to (JSON)
//   FAKE_TRAINER_GATE_START  wait for this file before the started record
//   FAKE_TRAINER_GATE_END    wait for this file before the completed record
//   FAKE_TRAINER_CHILD_PID   hang, stubborn: a file the pid of a child process goes to (the
//                            child stays in the trainer's process group, as workers do)
//   FAKE_TRAINER_STEP_MS     pause between steps (default 5)
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const env = process.env;
const mode = env.FAKE_TRAINER_MODE ?? "succeed";
const stepMs = Number(env.FAKE_TRAINER_STEP_MS ?? "5");

if (env.FAKE_TRAINER_STARTS) appendFileSync(env.FAKE_TRAINER_STARTS, `${process.pid}\n`);
if (env.FAKE_TRAINER_ENV_OUT) writeFileSync(env.FAKE_TRAINER_ENV_OUT, JSON.stringify(env));

const config = JSON.parse(readFileSync(env.TRAINER_CONFIG ?? "/etc/llmops/trainer.json", "utf8"));
const totalSteps = config.hyperparameters?.maxSteps ?? 3;

function emit(record) {
  process.stdout.write(`${JSON.stringify({ llmops: 1, ...record })}\n`);
}

async function waitFor(path) {
  while (path && !existsSync(path)) await sleep(5);
}

process.stdout.write("loading the base model (an ordinary log line, not a record)\n");
process.stderr.write("fake-trainer: starting\n");
await waitFor(env.FAKE_TRAINER_GATE_START);
emit({ event: "started", runId: config.runId, attempt: config.attempt, totalSteps });

if (mode === "hang" || mode === "stubborn") {
  if (mode === "stubborn") process.on("SIGTERM", () => {});
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  if (env.FAKE_TRAINER_CHILD_PID) writeFileSync(env.FAKE_TRAINER_CHILD_PID, `${child.pid}\n`);
  emit({ event: "progress", step: 1, totalSteps, epoch: 0.1, loss: 2.5 });
  setInterval(() => {}, 1000);
} else {
  for (let step = 1; step <= totalSteps; step++) {
    await sleep(stepMs);
    emit({
      event: "progress",
      step,
      totalSteps,
      epoch: step / totalSteps,
      loss: 2 / step,
      learningRate: 1e-4,
    });
  }
  const checkpoint = `${config.checkpoints.dir}/checkpoint-${totalSteps}`;
  emit({ event: "checkpoint", step: totalSteps, path: checkpoint });

  switch (mode) {
    case "fail":
      process.stderr.write("fake-trainer: the dataset has no messages column\n");
      emit({
        event: "failed",
        reason: env.FAKE_TRAINER_REASON ?? "DatasetFormat",
        message: "line 1 has no messages: a chat dataset needs a messages list",
        field: "spec.dataset.format",
        retryable: env.FAKE_TRAINER_RETRYABLE === "true",
      });
      process.exit(1);
      break;
    case "kill":
      process.kill(process.pid, "SIGKILL");
      break;
    case "exit":
      for (let i = 0; i < 200; i++) process.stderr.write(`noise ${i} `.padEnd(40, ".") + "\n");
      process.stderr.write("Traceback (most recent call last):\nRuntimeError: the last words\n");
      process.exit(3);
      break;
    default:
      await waitFor(env.FAKE_TRAINER_GATE_END);
      emit({
        event: "completed",
        output: { path: config.output.dir },
        metrics: { trainLoss: 2 / totalSteps, steps: totalSteps, seconds: 0.1 },
      });
  }
}
