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
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    req.resume();
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `send the body as application/json, not ${type}`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) {
      req.resume();
      throw tooLarge(maxBytes);
    }
    chunks.push(buffer);
  }
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
