// The safetensors side of the test Hub: a model repo's `safetensors` info ({ parameters: { BF16:
// n, … }, total }) computed from the headers of the .safetensors files in a commit, as the Hub
// computes it, and a helper that writes such a file for tests. A safetensors file is an 8-byte
// little-endian header length, a JSON header (tensor → dtype, shape, data_offsets) and the data;
// the test Hub reads only the header, so tests may ship header-only files that declare a 7B model
// in a few hundred bytes. Test-only.

/** One tensor of a safetensors header. */
export interface TensorSpec {
  /** BF16, F16, F32, I8, U8, … */
  dtype: string;
  shape: number[];
}

const bytesPerElement: Record<string, number> = {
  F64: 8,
  I64: 8,
  U64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/**
 * A safetensors file with these tensors: the header with consistent data_offsets, followed by
 * the data only when `withData` (zeros); without it the file is just the header.
 */
export function safetensorsFile(
  tensors: Record<string, TensorSpec>,
  options: { withData?: boolean } = {},
): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const size = t.shape.reduce((a, b) => a * b, 1) * (bytesPerElement[t.dtype] ?? 1);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.byteLength));
  return Buffer.concat([
    length,
    json,
    ...(options.withData === true ? [Buffer.alloc(offset)] : []),
  ]);
}

function headerOf(bytes: Buffer): Record<string, unknown> | undefined {
  if (bytes.byteLength < 8) return undefined;
  const length = Number(bytes.readBigUInt64LE(0));
  if (length <= 0 || 8 + length > bytes.byteLength) return undefined;
  try {
    const header: unknown = JSON.parse(bytes.subarray(8, 8 + length).toString("utf8"));
    return typeof header === "object" && header !== null && !Array.isArray(header)
      ? (header as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parameter counts by dtype over every .safetensors file of a commit, or undefined when it has
 * none (the Hub then omits the field). Unreadable headers are skipped, as the Hub skips them.
 */
export function safetensorsInfo(
  files: ReadonlyMap<string, Buffer>,
): { parameters: Record<string, number>; total: number } | undefined {
  const parameters: Record<string, number> = {};
  let found = false;
  for (const [path, bytes] of files) {
    if (!path.endsWith(".safetensors")) continue;
    const header = headerOf(bytes);
    if (header === undefined) continue;
    found = true;
    for (const [name, tensor] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const t = tensor as { dtype?: unknown; shape?: unknown };
      if (typeof t.dtype !== "string" || !Array.isArray(t.shape)) continue;
      const count = (t.shape as number[]).reduce((a, b) => a * b, 1);
      parameters[t.dtype] = (parameters[t.dtype] ?? 0) + count;
    }
  }
  if (!found) return undefined;
  return { parameters, total: Object.values(parameters).reduce((a, b) => a + b, 0) };
}
