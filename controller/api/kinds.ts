// Resource descriptors of the four llmops kinds (from the CRDs, through the generated table).
import type { ResourceType } from "../kube/resources.js";
import { llmopsKinds } from "./generated/index.js";

export const PromptType: ResourceType = llmopsKinds.Prompt;
export const ExperimentType: ResourceType = llmopsKinds.Experiment;
export const TrainingJobType: ResourceType = llmopsKinds.TrainingJob;
export const ModelDeploymentType: ResourceType = llmopsKinds.ModelDeployment;
