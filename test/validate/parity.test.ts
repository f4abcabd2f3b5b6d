// Parity of `llmops validate` with the real kube-apiserver: every fixture object (valid, invalid,
// the sets, specs/) is sent to the test control plane with
// `kubectl apply --server-side --dry-run=server --validate=strict`, the way a GitOps tool applies
// it, and the apiserver's verdict must equal the offline one, object by object.
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCrds } from "../../controller/api/crds.js";
import { validateManifests } from "../../controller/api/manifests/validate-manifests.js";
import {
  createObjectValidator,
  type ObjectValidator,
} from "../../controller/api/validation/object-validator.js";
import { createTestNamespace, deleteTestNamespace, kubectl } from "../support/cluster.js";
import {
  fixtureSets,
  invalidFixtures,
  specFixtures,
  validFixtures,
  type Fixture,
} from "./fixtures.js";
import { ensureNamespace, installCrds } from "./install-crds.js";

const ourKinds = new Set(["Prompt", "Experiment", "TrainingJob", "ModelDeployment"]);

/** One `---` document of a fixture, as its own YAML text. */
interface DocumentCase {
  name: string;
  text: string;
  /** metadata.namespace when the document names one (then kubectl gets no -n). */
  namespace: string | undefined;
}

function documentsOf(fixture: Fixture): DocumentCase[] {
  if (fixture.file.endsWith(".json")) {
    return [{ name: fixture.file, text: fixture.text, namespace: undefined }];
  }
  const docs = parseAllDocuments(fixture.text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: DocumentCase[] = [];
  list.forEach((doc, i) => {
    if (doc.contents === null && doc.errors.length === 0) return;
    const text = fixture.text.slice(doc.range[0], doc.range[2]);
    let namespace: string | undefined;
    let foreign = false;
    try {
      const value = doc.toJS() as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata?: { namespace?: unknown };
      } | null;
      const ns = value?.metadata?.namespace;
      namespace = typeof ns === "string" && ns !== "" ? ns : undefined;
      // Other APIs' objects and YAML that is no object at all are not ours to judge;
      // `llmops validate` passes over them with a note.
      const ours =
        (typeof value?.apiVersion === "string" && value.apiVersion.startsWith("llmops.dev/")) ||
        (typeof value?.kind === "string" && ourKinds.has(value.kind));
      foreign = doc.errors.length === 0 && !ours;
    } catch {
      // Malformed: both sides must reject it.
    }
    if (!foreign) out.push({ name: `${fixture.file}#${String(i)}`, text, namespace });
  });
  return out;
}

const cases: DocumentCase[] = [
  ...invalidFixtures(),
  ...validFixtures(),
  ...specFixtures(),
  ...fixtureSets().flatMap((s) => s.files),
].flatMap(documentsOf);

let validator: ObjectValidator;
let namespace = "";

beforeAll(async () => {
  await installCrds();
  validator = createObjectValidator(await loadCrds());
  namespace = await createTestNamespace("parity");
  const named = new Set(cases.map((c) => c.namespace).filter((n): n is string => n !== undefined));
  for (const ns of named) await ensureNamespace(ns);
});

afterAll(async () => {
  await deleteTestNamespace(namespace);
});

function offlineAccepts(c: DocumentCase): { accepted: boolean; detail: string } {
  const report = validateManifests([{ file: c.name, text: c.text }], validator);
  const errors = report.problems.filter((p) => p.severity === "error" && p.source !== "duplicate");
  return {
    accepted: errors.length === 0,
    detail: errors.map((p) => `${p.path}: ${p.message}`).join("\n"),
  };
}

async function serverAccepts(c: DocumentCase): Promise<{ accepted: boolean; detail: string }> {
  const args = [
    "apply",
    "--server-side",
    "--dry-run=server",
    "--validate=strict",
    "--field-manager=llmops-parity",
    ...(c.namespace === undefined ? ["-n", namespace] : []),
    "-f",
    "-",
  ];
  const result = await kubectl(args, { input: c.text });
  return { accepted: result.code === 0, detail: (result.stderr || result.stdout).trim() };
}

describe("llmops validate and kube-apiserver agree", () => {
  it("has cases for every fixture", () => {
    expect(cases.length).toBeGreaterThan(100);
  });

  it.concurrent.for(cases)("$name", async (c, { expect }) => {
    const offline = offlineAccepts(c);
    const server = await serverAccepts(c);
    expect(
      offline.accepted,
      `apiserver ${server.accepted ? "accepts" : "rejects"} it:\n${server.detail}\n` +
        `llmops validate ${offline.accepted ? "accepts" : "rejects"} it:\n${offline.detail}`,
    ).toBe(server.accepted);
  });
});
