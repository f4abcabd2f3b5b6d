// The analysis the Experiment reconciler calls: pure functions, no I/O.
export * from "./descriptive.js";
export * from "./distributions.js";
export * from "./hypothesis-tests.js";
export * from "./sample-size.js";
export * from "./observations.js";
export * from "./guardrails.js";
export * from "./decide.js";
export * from "./moments.js";
export * from "./sequential.js";
export * from "./srm.js";
