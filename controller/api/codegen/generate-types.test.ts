import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generatedDirectory, renderGeneratedTypes } from "./main.js";
import { kindFileName, singular } from "./generate-types.js";

describe("generated API types", () => {
  // Formatting with Prettier takes seconds on a busy machine.
  it(
    "are current: controller/api/generated/ is what `npm run generate` writes from crds/",
    { timeout: 60_000 },
    async () => {
      const files = await renderGeneratedTypes();
      expect(files.map((f) => f.name).sort()).toEqual([
        "experiment.ts",
        "index.ts",
        "model-deployment.ts",
        "prompt.ts",
        "training-job.ts",
      ]);
      for (const f of files) {
        const onDisk = await readFile(join(generatedDirectory, f.name), "utf8");
        expect(
          onDisk,
          `controller/api/generated/${f.name} is stale: run \`npm run generate\``,
        ).toBe(f.content);
      }
    },
  );

  it.each([
    ["variants", "variant"],
    ["history", "historyEntry"],
    ["measurements", "measurement"],
    ["analysis", "analysisEntry"],
    ["env", "envItem"],
    ["categories", "category"],
  ])("names an item of %s %s", (list, item) => {
    expect(singular(list)).toBe(item);
  });

  it("names files in kebab-case", () => {
    expect(kindFileName("ModelDeployment")).toBe("model-deployment.ts");
    expect(kindFileName("Prompt")).toBe("prompt.ts");
  });
});
