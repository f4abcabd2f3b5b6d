// What `llmops up` shows while it runs: one row per object of the four kinds with Ready and the
// kind's key figure, a progress bar for Experiments and TrainingJobs (with the loss), the canary
// weight of ModelDeployments. Pure: objects in, lines or events out; the command does the I/O.
//
// Three outputs from the same summaries: a table redrawn in place on a TTY (renderTable), one
// plain line per change when stdout is not a TTY (describeChange), and one JSON event per change
// for tools (`-o json`, changeEvents).

/** The object fields the view reads; every status field is optional (it may not be written yet). */
export interface ViewedObject {
  kind?: string;
  metadata?: { namespace?: string; name?: string; generation?: number };
  status?: Record<string, unknown>;
}

export interface ObjectSummary {
  /** `TrainingJob default/ticket-triage`: the key the view sorts and diffs by. */
  id: string;
  kind: string;
  namespace: string;
  name: string;
  /** The Ready condition's status: True, False or Unknown (no condition yet). */
  ready: "True" | "False" | "Unknown";
  /** Ready's reason and message, when not True (what is wrong or being waited for). */
  reason?: string;
  message?: string;
  /** The kind's phase, or for a Prompt its version (`v3`). */
  phase?: string;
  /** 0..1 for Experiments (calls completed) and TrainingJobs (percent), when known. */
  progress?: number;
  /** A short figure beside the bar: steps, calls, loss, winner, weights. */
  detail?: string;
  /** ModelDeployments: the canary's share of traffic, in percent. */
  canaryWeight?: number;
  /** ModelDeployments: where clients send requests (status.url). */
  url?: string;
}

const kindOrder = ["Prompt", "Experiment", "TrainingJob", "ModelDeployment"];

type Condition = { type?: unknown; status?: unknown; reason?: unknown; message?: unknown };

function readyCondition(status: Record<string, unknown> | undefined): Condition | undefined {
  const conditions = status?.conditions;
  if (!Array.isArray(conditions)) return undefined;
  return (conditions as Condition[]).find((c) => c.type === "Ready");
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** Three significant figures, without trailing zeros: 2.31, 0.0412, 17.2. */
export function formatLoss(loss: number): string {
  return Number(loss.toPrecision(3)).toString();
}

/** Reads what the view shows from one object. */
export function summarize(obj: ViewedObject): ObjectSummary {
  const kind = obj.kind ?? "";
  const namespace = obj.metadata?.namespace ?? "";
  const name = obj.metadata?.name ?? "";
  const status = obj.status;
  const ready = readyCondition(status);
  const readyStatus =
    ready?.status === "True" || ready?.status === "False" ? ready.status : "Unknown";
  const summary: ObjectSummary = {
    id: `${kind} ${namespace}/${name}`,
    kind,
    namespace,
    name,
    ready: readyStatus,
  };
  if (readyStatus !== "True") {
    const reason = str(ready?.reason);
    const message = str(ready?.message);
    if (reason !== undefined) summary.reason = reason;
    if (message !== undefined) summary.message = message;
  }
  const phase = str(status?.phase);
  if (phase !== undefined) summary.phase = phase;

  switch (kind) {
    case "Prompt": {
      const version = num(status?.version);
      if (version !== undefined) summary.phase = `v${String(version)}`;
      break;
    }
    case "Experiment": {
      const progress = record(status?.progress);
      const completed = num(progress?.completed);
      const total = num(progress?.total);
      const parts: string[] = [];
      if (completed !== undefined && total !== undefined && total > 0) {
        summary.progress = Math.min(1, completed / total);
        parts.push(`${String(completed)}/${String(total)} calls`);
      }
      const failed = num(progress?.failed);
      if (failed !== undefined && failed > 0) parts.push(`${String(failed)} failed`);
      const winner = str(status?.winner);
      if (winner !== undefined) parts.push(`winner ${winner}`);
      if (parts.length > 0) summary.detail = parts.join(", ");
      break;
    }
    case "TrainingJob": {
      const progress = record(status?.progress);
      const percent = num(progress?.percent);
      if (percent !== undefined) summary.progress = Math.min(1, Math.max(0, percent / 100));
      const parts: string[] = [];
      const step = num(progress?.step);
      const total = num(progress?.totalSteps);
      if (step !== undefined && total !== undefined) {
        parts.push(`step ${String(step)}/${String(total)}`);
      }
      const loss = num(progress?.loss);
      if (loss !== undefined) parts.push(`loss ${formatLoss(loss)}`);
      const evalLoss = num(progress?.evalLoss);
      if (evalLoss !== undefined) parts.push(`eval ${formatLoss(evalLoss)}`);
      if (parts.length > 0) summary.detail = parts.join(", ");
      break;
    }
    case "ModelDeployment": {
      const weight = num(status?.canaryWeight);
      const canary = str(status?.canaryRevision);
      const stable = str(status?.stableRevision);
      if (canary !== undefined) summary.canaryWeight = weight ?? 0;
      const revisions = Array.isArray(status?.revisions)
        ? (status.revisions as unknown[]).map(record).filter((r) => r !== undefined)
        : [];
      const weighted = revisions
        .filter((r) => (num(r.weight) ?? 0) > 0)
        .map((r) => `${shortRevision(str(r.name) ?? "?")} ${String(num(r.weight) ?? 0)}%`);
      if (weighted.length > 0) {
        summary.detail = weighted.join(" · ");
      } else if (stable !== undefined) {
        summary.detail = `${shortRevision(stable)} 100%`;
      }
      // Where clients send requests (the local proxy, or the route), once the controller knows.
      const url = str(status?.url);
      if (url !== undefined) summary.url = url;
      if (canary !== undefined) {
        const step = num(status?.currentStep);
        const stepText = step !== undefined ? `, step ${String(step)}` : "";
        summary.detail = `${summary.detail ?? ""}${summary.detail ? " · " : ""}canary ${shortRevision(canary)} at ${String(weight ?? 0)}%${stepText}`;
      }
      break;
    }
  }
  return summary;
}

/** Revision names are `<md>-<hash>`: the view keeps the tail, which is what tells them apart. */
export function shortRevision(name: string): string {
  const dash = name.lastIndexOf("-");
  const tail = dash >= 0 ? name.slice(dash + 1) : name;
  return tail.length >= 6 ? tail.slice(0, 10) : name;
}

/** Sorts summaries the way the table shows them: by kind, then namespace/name. */
export function sortSummaries(summaries: readonly ObjectSummary[]): ObjectSummary[] {
  const rank = (kind: string) => {
    const at = kindOrder.indexOf(kind);
    return at === -1 ? kindOrder.length : at;
  };
  return [...summaries].sort(
    (a, b) =>
      rank(a.kind) - rank(b.kind) ||
      a.namespace.localeCompare(b.namespace) ||
      a.name.localeCompare(b.name),
  );
}

/** `[██████░░░░]`: `width` cells, filled in proportion to fraction (clamped to 0..1). */
export function progressBar(fraction: number, width: number): string {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const filled = Math.round(clamped * width);
  return `[${"█".repeat(filled)}${"░".repeat(width - filled)}]`;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

function truncate(text: string, width: number): string {
  if (width <= 1) return "";
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

export interface TableOptions {
  /** Terminal columns; lines are cut to fit. */
  width: number;
  /** Lines above the table (where the cluster is, how to stop). */
  header?: readonly string[];
}

/**
 * The table the TTY view redraws: a header, then KIND/NAME, READY, PHASE and a progress column
 * (bar and figures), one row per object, and under a row that is not Ready its reason.
 */
export function renderTable(summaries: readonly ObjectSummary[], options: TableOptions): string[] {
  const rows = sortSummaries(summaries);
  const lines = [...(options.header ?? [])];
  if (rows.length === 0) {
    lines.push("(no objects yet: waiting for the first sync)");
    return lines.map((l) => truncate(l, options.width));
  }
  const names = rows.map((r) => `${r.kind}/${r.name}`);
  const nameWidth = Math.max(9, ...names.map((n) => n.length));
  const phaseWidth = Math.max(5, ...rows.map((r) => (r.phase ?? "").length));
  lines.push(`${pad("KIND/NAME", nameWidth)}  READY    ${pad("PHASE", phaseWidth)}  PROGRESS`);
  rows.forEach((row, i) => {
    const bar =
      row.progress !== undefined
        ? `${progressBar(row.progress, 20)} ${pad(`${String(Math.round(row.progress * 100))}%`, 4)} `
        : "";
    const weightBar =
      row.canaryWeight !== undefined ? `${progressBar(row.canaryWeight / 100, 20)} ` : "";
    lines.push(
      truncate(
        `${pad(names[i] ?? "", nameWidth)}  ${pad(row.ready, 7)}  ${pad(row.phase ?? "", phaseWidth)}  ${bar}${weightBar}${row.detail ?? ""}${row.url !== undefined ? `  ${row.url}` : ""}`.trimEnd(),
        options.width,
      ),
    );
    if (row.ready === "False" && (row.reason !== undefined || row.message !== undefined)) {
      lines.push(
        truncate(
          `${" ".repeat(nameWidth + 2)}↳ ${[row.reason, row.message].filter(Boolean).join(": ")}`,
          options.width,
        ),
      );
    }
  });
  return lines.map((l) => truncate(l, options.width));
}

/**
 * The ANSI sequence that replaces the previous frame (`previousLines` tall) with `lines`: cursor
 * up, then each line cleared and rewritten, and anything left below cleared.
 */
export function redrawFrame(lines: readonly string[], previousLines: number): string {
  const up = previousLines > 0 ? `\u001b[${String(previousLines)}F` : "";
  return `${up}${lines.map((l) => `\u001b[2K${l}\n`).join("")}\u001b[0J`;
}

/** A change the plain and JSON outputs report. */
export type ViewChange =
  | { type: "added"; object: ObjectSummary }
  | { type: "changed"; object: ObjectSummary; previous: ObjectSummary }
  | { type: "removed"; object: ObjectSummary };

function same(a: ObjectSummary, b: ObjectSummary): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What changed from one snapshot to the next, in table order. */
export function diffSummaries(
  previous: ReadonlyMap<string, ObjectSummary>,
  next: ReadonlyMap<string, ObjectSummary>,
): ViewChange[] {
  const changes: ViewChange[] = [];
  for (const object of sortSummaries([...next.values()])) {
    const before = previous.get(object.id);
    if (before === undefined) changes.push({ type: "added", object });
    else if (!same(before, object)) changes.push({ type: "changed", object, previous: before });
  }
  for (const object of sortSummaries([...previous.values()])) {
    if (!next.has(object.id)) changes.push({ type: "removed", object });
  }
  return changes;
}

/** One line for a change, for a log or a pipe: `TrainingJob/x  Ready=False Running  45% step 90/200, loss 1.2`. */
export function describeChange(change: ViewChange): string {
  const o = change.object;
  if (change.type === "removed") return `${o.kind}/${o.name}  removed`;
  const parts = [`${o.kind}/${o.name}`, `Ready=${o.ready}`];
  if (o.phase !== undefined) parts.push(o.phase);
  if (o.progress !== undefined) parts.push(`${String(Math.round(o.progress * 100))}%`);
  if (o.detail !== undefined) parts.push(o.detail);
  if (o.ready === "False" && o.reason !== undefined) parts.push(`(${o.reason})`);
  return parts.join("  ");
}

/** The `-o json` event for a change: one line of JSON a tool can read. */
export function changeEvent(change: ViewChange, time: Date): Record<string, unknown> {
  const { id: _id, ...object } = change.object;
  return { time: time.toISOString(), event: change.type, ...object };
}
