// The test control plane's versions and binaries: the product's (controller/localenv/) plus the
// test-only ones (scheduler, kwok and its stages, kubectl, helm).
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  binDirFor,
  controlPlaneBinaries,
  missingBinaries as missingFrom,
  readVersions,
  type ControlPlaneVersions,
} from "../../controller/localenv/versions.js";

export { binDirFor, readVersions };
export type TestenvVersions = ControlPlaneVersions;

export const testenvDir = dirname(fileURLToPath(import.meta.url));

export const requiredBinaries = [
  ...controlPlaneBinaries,
  "kube-scheduler",
  "kwok",
  "kwok-stages.yaml",
  "kubectl",
  "helm",
] as const;

export function missingBinaries(binDir: string): string[] {
  return missingFrom(binDir, requiredBinaries);
}
