// Runs the local OpenAI-protocol test server as its own process (for benchmarks, so its CPU is
// not counted as the client's, and for trying a client by hand). Prints one JSON line with the
// base URL, then serves until stdin closes or SIGTERM.
//
//   npx tsx test/servers/openai/cli.ts --models acc-90:0.9,acc-70:0.7 --latency-ms 50 \
//     --max-concurrency 32 --dataset 500 [--api-key KEY]
import { arithmeticDataset } from "./dataset.js";
import { startOpenAiTestServer } from "./server.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const latencyMs = Number(arg("--latency-ms") ?? "0");
const maxConcurrency = arg("--max-concurrency");
const models = (arg("--models") ?? "acc-100:1").split(",").map((spec) => {
  const [id = "", accuracy = "1"] = spec.split(":");
  return { id, accuracy: Number(accuracy), latencyMs };
});
const apiKey = arg("--api-key");

const server = await startOpenAiTestServer({
  models,
  dataset: arithmeticDataset(Number(arg("--dataset") ?? "500"), 42),
  ...(maxConcurrency !== undefined ? { maxConcurrency: Number(maxConcurrency) } : {}),
  ...(apiKey !== undefined ? { apiKey } : {}),
});
process.stdout.write(`${JSON.stringify({ baseURL: server.baseURL })}\n`);

const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.stdin.on("close", stop);
process.stdin.resume();
