// README's "Layout" section is where a newcomer starts: it must name every folder of controller/
// and call charts/ a Helm chart only once there is one.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const layout = /## Layout\n+```\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";

describe("README Layout", () => {
  it("is there", () => {
    expect(layout).not.toBe("");
  });

  const folders = readdirSync(join(root, "controller"), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  it.each(folders)("names controller/%s/", (folder) => {
    const controllerLines = layout.slice(0, layout.indexOf("\ncrds/"));
    expect(controllerLines).toMatch(new RegExp(`\\b${folder}/`));
  });

  it("calls charts/ a Helm chart only when it holds one", () => {
    const line = /^charts\/.*$/m.exec(layout)?.[0] ?? "";
    const hasChart = readdirSync(join(root, "charts"), { withFileTypes: true }).some(
      (e) => e.isDirectory() && existsSync(join(root, "charts", e.name, "Chart.yaml")),
    );
    if (!hasChart) expect(line).toMatch(/placeholder|only a README/);
  });
});
