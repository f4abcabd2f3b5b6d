// The document applications read: the live version of a Prompt as published in its ConfigMap
// (`prompt-<name>`, key `prompt.json` unless spec.publish.configMap says otherwise). Pure.
import type { Prompt, PromptSpec } from "../api/generated/index.js";
import { promptContent, type ResolvedVariable } from "./content.js";

/** The document applications read from the published ConfigMap. */
export interface PublishedPromptDocument {
  apiVersion: "llmops.dev/v1alpha1";
  kind: "PublishedPrompt";
  name: string;
  namespace: string;
  version: number;
  contentHash: string;
  labels: string[];
  sourceRevision?: string;
  template: PromptSpec["template"];
  variables: ResolvedVariable[];
  model: {
    name: string;
    baseURL?: string;
    parameters?: NonNullable<PromptSpec["model"]["parameters"]>;
  };
  responseFormat?: PromptSpec["responseFormat"];
}

export function publishedDocument(options: {
  prompt: Prompt;
  version: number;
  hash: string;
  revision: string | undefined;
}): PublishedPromptDocument {
  const { prompt, version, hash, revision } = options;
  const content = promptContent(prompt.spec);
  const model = prompt.spec.model;
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "PublishedPrompt",
    name: prompt.metadata.name ?? "",
    namespace: prompt.metadata.namespace ?? "",
    version,
    contentHash: hash,
    labels: [...(prompt.spec.labels ?? [])],
    ...(revision !== undefined ? { sourceRevision: revision } : {}),
    template: content.template,
    variables: content.variables,
    // The endpoint's Secret reference stays out: applications get their own credentials.
    model: {
      name: model.name,
      ...(model.endpoint ? { baseURL: model.endpoint.baseURL } : {}),
      ...(model.parameters ? { parameters: model.parameters } : {}),
    },
    ...(content.responseFormat ? { responseFormat: content.responseFormat } : {}),
  };
}

export function configMapName(prompt: Prompt): string {
  return prompt.spec.publish?.configMap?.name ?? `prompt-${prompt.metadata.name ?? ""}`;
}

export function configMapKey(prompt: Prompt): string {
  return prompt.spec.publish?.configMap?.key ?? "prompt.json";
}
