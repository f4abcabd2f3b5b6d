// Request bodies, bounded: at most `maxBytes` are read (413 beyond, whatever Content-Length
// claims), and the body must be JSON (400 naming the problem otherwise).
import type { IncomingMessage } from "node:http";
import { ApiError } from "./errors.js";

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw tooLarge(maxBytes);
  }
  const type = req.headers["content-type"] ?? "application/json";
  if (type !== "application/json" && !/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    req.resume();
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `send the body as application/json, not ${type}`,
    );
  }
  // Events rather than `for await`: the async iterator costs more than the small bodies it reads.
  const chunks = await new Promise<Buffer[]>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        reject(tooLarge(maxBytes));
        return;
      }
      parts.push(chunk);
    });
    req.once("end", () => {
      if (!failed) resolve(parts);
    });
    req.once("error", reject);
  });
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new ApiError(400, "EmptyBody", "the request needs a JSON body");
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ApiError(
      400,
      "InvalidJson",
      `the body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(
    413,
    "BodyTooLarge",
    `the body is larger than ${String(maxBytes)} bytes; send fewer items per request`,
  );
}
