// Generates the TypeScript types of the four kinds from crds/, so the types cannot drift from the
// schemas the apiserver enforces. `npm run generate` writes controller/api/generated/; a test
// fails when those files differ from what this module renders.
import type { CrdVersion } from "../crds.js";
import type { OpenApiSchema } from "../schema.js";

/** One file to write under controller/api/generated/. */
export interface GeneratedFile {
  name: string;
  content: string;
}

function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p !== "")
    .map((p) => (p[0] ?? "").toUpperCase() + p.slice(1))
    .join("");
}

/** The name of one item of a list field: variants → Variant, history → HistoryEntry. */
export function singular(name: string): string {
  if (name === "history") return "historyEntry";
  if (name.endsWith("sis")) return `${name}Entry`;
  if (name.endsWith("ies")) return `${name.slice(0, -3)}y`;
  if (name.endsWith("s") && !name.endsWith("ss")) return name.slice(0, -1);
  return `${name}Item`;
}

/** File name for a kind: ModelDeployment → model-deployment.ts. */
export function kindFileName(kind: string): string {
  return `${kind.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase()}.ts`;
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propertyKey(name: string): string {
  return identifier.test(name) ? name : JSON.stringify(name);
}

/** Wraps prose at the repository's print width; code spans and patterns stay on one line. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

function docComment(lines: string[], indent: string): string {
  const width = 100 - indent.length - 3;
  const text = lines.filter((l) => l.trim() !== "").flatMap((l) => wrap(l, width));
  if (text.length === 0) return "";
  const body = text.map((l) => l.replace(/\*\//g, "*\\/"));
  const [only] = body;
  if (body.length === 1 && only !== undefined && indent.length + only.length + 7 <= 100) {
    return `${indent}/** ${only} */\n`;
  }
  return `${indent}/**\n${body.map((l) => `${indent} * ${l}`).join("\n")}\n${indent} */\n`;
}

/** What the schema says beyond the description, in words, for the JSDoc. */
function constraintNotes(schema: OpenApiSchema): string[] {
  const notes: string[] = [];
  if (schema.type === "integer") notes.push("Integer.");
  const min = schema.minimum;
  const max = schema.maximum;
  if (min !== undefined || max !== undefined) {
    const lo =
      min === undefined ? "" : `${schema.exclusiveMinimum === true ? ">" : ">="} ${String(min)}`;
    const hi =
      max === undefined ? "" : `${schema.exclusiveMaximum === true ? "<" : "<="} ${String(max)}`;
    notes.push(`Range: ${[lo, hi].filter((s) => s !== "").join(", ")}.`);
  }
  if (schema.pattern !== undefined) notes.push(`Pattern: \`${schema.pattern}\``);
  if (schema.maxLength !== undefined) notes.push(`Max length: ${String(schema.maxLength)}.`);
  if (schema.maxItems !== undefined) notes.push(`Max items: ${String(schema.maxItems)}.`);
  if (schema.default !== undefined)
    notes.push(`@defaultValue \`${JSON.stringify(schema.default)}\``);
  return notes;
}

interface TypeDeclaration {
  name: string;
  schema: OpenApiSchema;
}

class KindRenderer {
  private readonly declarations: TypeDeclaration[] = [];
  private readonly names = new Set<string>();

  constructor(private readonly crd: CrdVersion) {}

  render(): string {
    const { crd } = this;
    const root = crd.schema;
    const spec = root.properties?.spec;
    const status = root.properties?.status;
    const specName = spec === undefined ? undefined : this.declare(`${crd.kind}Spec`, spec);
    const statusName = status === undefined ? undefined : this.declare(`${crd.kind}Status`, status);

    let out = "";
    out += docComment(
      [
        root.description ?? "",
        "",
        `apiVersion ${crd.apiVersion}, kind ${crd.kind}, from ${crd.plural}.${crd.group}.`,
      ],
      "",
    );
    // A type alias, not an interface: it is then assignable to the client's KubeObject (which has
    // an index signature), and metadata is the JSON shape the client reads (strings, not Dates).
    out += `export type ${crd.kind} = {\n`;
    out += `  apiVersion: ${JSON.stringify(crd.apiVersion)};\n`;
    out += `  kind: ${JSON.stringify(crd.kind)};\n`;
    out += `  metadata: ObjectMeta;\n`;
    if (specName !== undefined) {
      out += docComment([spec?.description ?? ""], "  ");
      out += `  spec${root.required?.includes("spec") === true ? "" : "?"}: ${specName};\n`;
    }
    if (statusName !== undefined) {
      out += docComment([status?.description ?? ""], "  ");
      out += `  status?: ${statusName};\n`;
    }
    out += "};\n";

    // Declarations are added while rendering, so walk the growing list.
    for (let i = 0; i < this.declarations.length; i++) {
      const decl = this.declarations[i];
      if (decl !== undefined) out += `\n${this.renderInterface(decl)}`;
    }
    return out;
  }

  private declare(name: string, schema: OpenApiSchema): string {
    if (this.names.has(name)) {
      throw new Error(
        `generated type name ${name} is used twice in ${this.crd.kind}; rename a field`,
      );
    }
    this.names.add(name);
    this.declarations.push({ name, schema });
    return name;
  }

  private renderInterface({ name, schema }: TypeDeclaration): string {
    const required = new Set(schema.required ?? []);
    let out = docComment([schema.description ?? ""], "");
    out += `export interface ${name} {\n`;
    for (const [prop, propSchema] of Object.entries(schema.properties ?? {})) {
      out += docComment([propSchema.description ?? "", ...constraintNotes(propSchema)], "  ");
      const optional = required.has(prop) ? "" : "?";
      out += `  ${propertyKey(prop)}${optional}: ${this.typeOf(propSchema, name, prop)};\n`;
    }
    if (schema["x-kubernetes-preserve-unknown-fields"] === true) {
      out += "  /** Fields this schema does not describe are kept as they are. */\n";
      out += "  [field: string]: unknown;\n";
    }
    out += "}\n";
    return out;
  }

  /** The TypeScript type of a property; object schemas become named interfaces. */
  private typeOf(schema: OpenApiSchema, parent: string, prop: string): string {
    const nullable = schema.nullable === true ? " | null" : "";
    if (schema.enum !== undefined) {
      return schema.enum.map((v) => JSON.stringify(v)).join(" | ") + nullable;
    }
    if (schema["x-kubernetes-int-or-string"] === true) return `number | string${nullable}`;
    switch (schema.type) {
      case "string":
        return `string${nullable}`;
      case "integer":
      case "number":
        return `number${nullable}`;
      case "boolean":
        return `boolean${nullable}`;
      case "array": {
        const items = schema.items;
        if (items === undefined) return `unknown[]${nullable}`;
        const itemType = this.typeOf(items, parent, singular(prop));
        return `${itemType.includes(" ") ? `(${itemType})` : itemType}[]${nullable}`;
      }
      case "object": {
        if (schema.properties !== undefined) {
          return this.declare(`${this.nestedPrefix(parent)}${pascal(prop)}`, schema) + nullable;
        }
        if (typeof schema.additionalProperties === "object") {
          const valueType = this.typeOf(schema.additionalProperties, parent, `${prop}Value`);
          return `Record<string, ${valueType}>${nullable}`;
        }
        return `Record<string, unknown>${nullable}`;
      }
      default:
        return "unknown";
    }
  }

  /** Nested names drop "Spec": PromptTemplate, not PromptSpecTemplate (status keeps its word). */
  private nestedPrefix(parent: string): string {
    const specName = `${this.crd.kind}Spec`;
    return parent === specName ? this.crd.kind : parent;
  }
}

const header = (source: string) =>
  `// Code generated by \`npm run generate\` from ${source}. DO NOT EDIT.\n` +
  "// Change the CRD instead; `npm test` fails while this file is stale.\n";

/** Renders the types of one kind. */
export function renderKindFile(crd: CrdVersion, crdPath: string): GeneratedFile {
  const body = new KindRenderer(crd).render();
  const content = `${header(crdPath)}\nimport type { ObjectMeta } from "../../kube/resources.js";\n\n${body}`;
  return { name: kindFileName(crd.kind), content };
}

/** Renders index.ts: every kind's resource names, and the union of the kinds. */
export function renderIndexFile(crds: readonly CrdVersion[]): GeneratedFile {
  const sorted = [...crds].sort((a, b) => a.kind.localeCompare(b.kind));
  let out = `${header("crds/")}\n`;
  for (const crd of sorted) {
    out += `import type { ${crd.kind} } from "./${kindFileName(crd.kind).replace(/\.ts$/, ".js")}";\n`;
  }
  out += "\n";
  for (const crd of sorted) {
    out += `export type * from "./${kindFileName(crd.kind).replace(/\.ts$/, ".js")}";\n`;
  }
  out += "\n/** API group and version of every kind. */\n";
  const groups = [...new Set(sorted.map((c) => c.apiVersion))];
  out += `export const llmopsApiVersions = ${JSON.stringify(groups)} as const;\n\n`;
  out += "/** Names under which the apiserver serves each kind (from the CRDs). */\n";
  out += "export const llmopsKinds = {\n";
  for (const crd of sorted) {
    const info = {
      group: crd.group,
      version: crd.version,
      apiVersion: crd.apiVersion,
      kind: crd.kind,
      listKind: crd.listKind,
      plural: crd.plural,
      singular: crd.singular,
      shortNames: crd.shortNames,
      categories: crd.categories,
      namespaced: crd.namespaced,
    };
    out += `  ${crd.kind}: ${JSON.stringify(info)},\n`;
  }
  out += "} as const;\n\n";
  out += "/** The name of one of the kinds. */\n";
  out += "export type LlmopsKind = keyof typeof llmopsKinds;\n\n";
  out += "/** An object of any of the kinds. */\n";
  out += `export type LlmopsObject = ${sorted.map((c) => c.kind).join(" | ")};\n`;
  return { name: "index.ts", content: out };
}

/** Every generated file, unformatted. */
export function renderGeneratedFiles(
  crds: readonly CrdVersion[],
  crdPathOf: (crd: CrdVersion) => string,
): GeneratedFile[] {
  return [...crds.map((crd) => renderKindFile(crd, crdPathOf(crd))), renderIndexFile(crds)];
}

/** Formats generated sources with the repository's Prettier settings, so lint passes on them. */
export async function formatGeneratedFiles(
  files: GeneratedFile[],
  configFile: string,
): Promise<GeneratedFile[]> {
  // Prettier is a dev dependency: loaded only when generating, never by the CLI or controller.
  const prettier = await import("prettier");
  const options = (await prettier.resolveConfig(configFile)) ?? {};
  return Promise.all(
    files.map(async (f) => ({
      name: f.name,
      content: await prettier.format(f.content, { ...options, parser: "typescript" }),
    })),
  );
}
