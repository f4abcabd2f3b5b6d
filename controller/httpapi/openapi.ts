// The HTTP API's OpenAPI 3.1 document (served at /openapi.json) and the JSON schemas of its
// request bodies. The server validates bodies with these very schemas (ajv), so the document
// cannot drift from what is accepted; a test checks that every route the router serves is here.

export const maxOutcomesPerRequest = 1000;

const identifier = { type: "string", minLength: 1, maxLength: 256 } as const;

export const requestSchemas = {
  render: {
    type: "object",
    description: "Values for the Prompt's declared variables, by name.",
    properties: { variables: { type: "object", additionalProperties: true } },
    additionalProperties: false,
  },
  assignment: {
    type: "object",
    description:
      "The unit (such as a user id) to assign; `unit`, or the Experiment's spec.traffic.assignmentKey as the property name.",
    properties: { unit: identifier },
    additionalProperties: identifier,
    minProperties: 1,
  },
  outcomes: {
    type: "array",
    minItems: 1,
    maxItems: maxOutcomesPerRequest,
    items: {
      type: "object",
      required: ["id", "unit", "metric", "value"],
      additionalProperties: false,
      properties: {
        id: { ...identifier, description: "Idempotency key: an id is counted once per run." },
        unit: { ...identifier, description: "The unit the outcome belongs to." },
        metric: {
          type: "string",
          minLength: 1,
          maxLength: 63,
          description: "Name of one of the Experiment's evaluators.",
        },
        value: {
          type: ["number", "boolean"],
          description: "The value; 0/1 or true/false for binary metrics.",
        },
      },
    },
  },
} as const;

const error = {
  type: "object",
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        field: { type: "string" },
      },
    },
  },
};

const path = (name: string, description: string) => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string" },
});
const nsName = [
  path("namespace", "The tenant: a Kubernetes namespace."),
  path("name", "The object's name."),
];
const selectors = [
  {
    name: "version",
    in: "query",
    schema: { type: "integer", minimum: 1 },
    description: "A version number.",
  },
  {
    name: "label",
    in: "query",
    schema: { type: "string" },
    description: "A label, such as production.",
  },
];
const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      {
        description: errorDescriptions[code] ?? "error",
        content: { "application/json": { schema: error } },
      },
    ]),
  );
const errorDescriptions: Record<number, string> = {
  400: "The body is not valid JSON or does not match the schema (the message names the field).",
  401: "No bearer token, or one the Kubernetes API server rejects.",
  403: "RBAC does not allow this in the namespace (SubjectAccessReview).",
  404: "No such object, version or label.",
  409: "The Experiment has no online run to serve (offline, not started yet, or the run changed).",
  413: "The body is too large.",
  415: "The body is not JSON.",
  422: "A variable, metric or value the Prompt or Experiment does not allow (named in the message).",
  429: "This client's rate limit was reached; see Retry-After.",
  502: "The model endpoint failed.",
  503: "Not ready yet, or the apiserver could not be reached; see Retry-After.",
};
const json = (schema: unknown, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const promptVersion = {
  type: "object",
  properties: {
    namespace: { type: "string" },
    name: { type: "string" },
    version: { type: "integer" },
    contentHash: { type: "string" },
    labels: { type: "array", items: { type: "string" } },
    live: { type: "boolean" },
    template: { type: "object", description: "text, or chat messages with mustache placeholders" },
    variables: { type: "array", items: { type: "object" } },
    model: { type: "object", description: "name and sampling parameters" },
    responseFormat: { type: "object" },
  },
};

export const openApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "llmops API",
    version: "v1",
    description:
      "Prompts by version or label, rendering and test calls, Experiment results, and online A/B assignments and outcomes. Tenants are namespaces: every request carries a Kubernetes bearer token, checked with a TokenReview, and Kubernetes RBAC (a SubjectAccessReview per request, group llmops.dev) decides what it may read or do. The API never changes specs: those come from git.",
  },
  components: {
    securitySchemes: { kubernetes: { type: "http", scheme: "bearer" } },
    schemas: { Error: error, PromptVersion: promptVersion },
  },
  security: [{ kubernetes: [] }],
  paths: {
    "/openapi.json": {
      get: {
        summary: "This document.",
        security: [],
        responses: { "200": json({ type: "object" }, "The OpenAPI document.") },
      },
    },
    "/v1/prompts": {
      get: {
        summary: "Prompts in the namespaces the caller may list prompts in (RBAC list prompts).",
        parameters: [
          {
            name: "namespace",
            in: "query",
            schema: { type: "string" },
            description: "Only this namespace.",
          },
        ],
        responses: {
          "200": json(
            { type: "object", properties: { items: { type: "array", items: { type: "object" } } } },
            "Each Prompt's live version, labels and versions.",
          ),
          ...errors(401, 403, 429, 503),
        },
      },
    },
    "/v1/prompts/{namespace}/{name}": {
      get: {
        summary: "One version of a Prompt: live, or by ?version= or ?label= (RBAC get prompts).",
        parameters: [...nsName, ...selectors],
        responses: {
          "200": json(promptVersion, "The version's content; ETag set, If-None-Match honoured."),
          "304": { description: "Not modified (If-None-Match matched the ETag)." },
          ...errors(400, 401, 403, 404, 429, 503),
        },
      },
    },
    "/v1/prompts/{namespace}/{name}/render": {
      post: {
        summary: "Render a version with variables (RBAC get prompts).",
        parameters: [...nsName, ...selectors],
        requestBody: {
          required: true,
          content: { "application/json": { schema: requestSchemas.render } },
        },
        responses: {
          "200": json(
            {
              type: "object",
              properties: { messages: { type: "array", items: { type: "object" } } },
            },
            "The chat messages, with version and content hash.",
          ),
          ...errors(400, 401, 403, 404, 413, 415, 422, 429, 503),
        },
      },
    },
    "/v1/prompts/{namespace}/{name}/test": {
      post: {
        summary:
          "Render a version and call its model once: output, usage, cost and latency (RBAC create prompts/test).",
        parameters: [...nsName, ...selectors],
        requestBody: {
          required: true,
          content: { "application/json": { schema: requestSchemas.render } },
        },
        responses: {
          "200": json(
            {
              type: "object",
              properties: {
                output: { type: ["string", "null"] },
                usage: { type: ["object", "null"] },
                costUSD: { type: ["number", "null"] },
                latencyMs: { type: "number" },
              },
            },
            "The model's answer.",
          ),
          ...errors(400, 401, 403, 404, 413, 415, 422, 429, 502, 503),
        },
      },
    },
    "/v1/experiments/{namespace}/{name}": {
      get: {
        summary: "An Experiment's phase, results, comparisons and winner (RBAC get experiments).",
        parameters: nsName,
        responses: {
          "200": json({ type: "object" }, "The Experiment's status."),
          ...errors(401, 403, 404, 429, 503),
        },
      },
    },
    "/v1/experiments/{namespace}/{name}/assignments": {
      post: {
        summary:
          'The variant a unit gets: SHA-256 of "<uid>:<salt>:<unit>", first 4 bytes / 2^32 against the cumulative weights; counts the unit as exposed (RBAC create experiments/assignments).',
        parameters: nsName,
        requestBody: {
          required: true,
          content: { "application/json": { schema: requestSchemas.assignment } },
        },
        responses: {
          "200": json(
            {
              type: "object",
              properties: {
                variant: { type: "string" },
                prompt: {
                  type: "object",
                  properties: { name: { type: "string" }, version: { type: "integer" } },
                },
                runId: { type: "string" },
              },
            },
            "The assignment.",
          ),
          ...errors(400, 401, 403, 404, 409, 413, 415, 429, 503),
        },
      },
    },
    "/v1/experiments/{namespace}/{name}/outcomes": {
      post: {
        summary:
          "Report outcomes; each id counts once per run, and the answer comes once they are stored (RBAC create experiments/outcomes).",
        parameters: nsName,
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: {
                oneOf: [
                  requestSchemas.outcomes,
                  {
                    type: "object",
                    required: ["outcomes"],
                    properties: { outcomes: requestSchemas.outcomes },
                  },
                ],
              },
            },
          },
        },
        responses: {
          "200": json(
            {
              type: "object",
              properties: { accepted: { type: "integer" }, duplicates: { type: "integer" } },
            },
            "Counted (accepted) and already counted (duplicates).",
          ),
          ...errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        },
      },
    },
  },
} as const;
