/**
 * Reads the header of a `.safetensors` file, Hugging Face's tensor format, into tensors that
 * are byte ranges of the file: nothing is copied, the weights stay where the mapping put them.
 *
 * The layout:
 *
 * ```text
 * bytes 0..8        N, the header's length: an unsigned 64-bit little-endian integer
 * bytes 8..8+N      the header: UTF-8 JSON, possibly padded with spaces
 *                   { "__metadata__": { "format": "pt" },             (optional, strings only)
 *                     "model.norm.weight": { "dtype": "BF16", "shape": [2048],
 *                                            "data_offsets": [0, 4096] }, ... }
 * bytes 8+N..       the data: each tensor's row-major little-endian elements at
 *                   [begin, end) of `data_offsets`, counted from the end of the header
 * ```
 *
 * Everything is checked before a tensor is handed out: the header fits the file, is JSON,
 * every entry has a supported dtype (BF16, F16, F32), a shape of whole numbers and offsets
 * that lie inside the data, span exactly the shape's bytes, are aligned to the element size
 * and do not overlap another tensor's. Each problem is one {@linkcode CheckpointError} naming
 * the file, the tensor and what to do.
 *
 * @example
 * ```ts
 * import { readSafetensors } from "./safetensors.ts";
 *
 * const file = readSafetensors(Deno.readFileSync("model.safetensors"), "model.safetensors");
 * const norm = file.tensors.get("model.norm.weight")!;
 * // { dtype: "BF16", type: "bf16", shape: [2048], byteOffset: 1234568, byteLength: 4096 }
 * ```
 *
 * @module
 */

import { CheckpointError } from "../errors.ts";
import { briefValue, excerpt } from "./excerpt.ts";
import { parseJsonWithLimits } from "./json_limits.ts";
import { LIMITS } from "./limits.ts";

/** The safetensors dtypes llama-bolts runs. */
export type SafetensorsDtype = "BF16" | "F16" | "F32";

/** Our name of each supported dtype's storage type. */
export const SAFETENSORS_STORAGE: Readonly<Record<SafetensorsDtype, "bf16" | "f16" | "f32">> =
  Object.freeze({ BF16: "bf16", F16: "f16", F32: "f32" });

/** Bytes per element of each supported dtype. */
const ELEMENT_BYTES: Readonly<Record<SafetensorsDtype, number>> = { BF16: 2, F16: 2, F32: 4 };

/** The other dtypes the format defines, so that an error can say "known, but not supported". */
const OTHER_DTYPES = new Set([
  "BOOL",
  "U8",
  "I8",
  "I16",
  "U16",
  "I32",
  "U32",
  "I64",
  "U64",
  "F64",
  "F8_E4M3",
  "F8_E5M2",
  "F8_E8M0",
  "F6_E2M3",
  "F6_E3M2",
  "F4",
  "C64",
]);

/** The safetensors library refuses headers longer than this (100 MB); so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor of a safetensors file: a byte range of the file. */
export interface SafetensorsTensor {
  /** Its name in the header, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  readonly name: string;
  /** The dtype the header names. */
  readonly dtype: SafetensorsDtype;
  /** The same as llama-bolts' storage type. */
  readonly type: "bf16" | "f16" | "f32";
  /** Dimensions, outermost first (`[]` for a scalar). */
  readonly shape: readonly number[];
  /** Where its first element lies in the file (header included). */
  readonly byteOffset: number;
  /** Its size in bytes. */
  readonly byteLength: number;
}

/** The parsed header of one safetensors file. */
export interface SafetensorsHeader {
  /** The file, for messages. */
  readonly path: string;
  /** Where the data section starts in the file: 8 + the header's length. */
  readonly dataOffset: number;
  /** `__metadata__`, or an empty object when the header has none. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor by name, in the order of their data in the file. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
}

const DAMAGED_FIX = "the file is damaged or not a safetensors file; download it again";

/**
 * Parses and checks a safetensors file's header.
 *
 * @param bytes The whole file (a view of the mapping; element 0 is the file's byte 0).
 * @param path The file's path, for error messages.
 * @returns The header, with every tensor's place in the file.
 * @throws {CheckpointError} When the header length runs past the file, the header is not a JSON
 * object, an entry is malformed, a dtype is not BF16/F16/F32 (the message names it), or
 * offsets are out of range, misaligned, disagree with the shape or overlap.
 */
export function readSafetensors(bytes: Uint8Array, path: string): SafetensorsHeader {
  const fail = (message: string, fix = DAMAGED_FIX): never => {
    throw new CheckpointError(message, { path, fix });
  };
  if (bytes.length < 8) {
    fail(`expected a safetensors file of at least 8 bytes, found ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(
      `expected a header of at most ${bytes.length - 8} bytes (the rest of the file), found a ` +
        `header length of ${headerLength}: the header runs past the end of the file`,
      "the file is truncated or not a safetensors file; download it again",
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`expected a header of at most ${MAX_HEADER_BYTES} bytes, found ${headerLength}`);
  }
  const dataOffset = 8 + Number(headerLength);
  const dataLength = bytes.length - dataOffset;

  let text = "";
  try {
    // A copy: TextDecoder refuses views of a SharedArrayBuffer (the weights memory).
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.slice(8, dataOffset));
  } catch {
    fail("expected a JSON header, found invalid JSON: its bytes are not UTF-8");
  }
  const parsed = parseJsonWithLimits(text);
  if ("error" in parsed) {
    fail(
      parsed.syntax === undefined
        ? `the header: ${parsed.error}`
        : `expected a JSON header, found invalid JSON: ${parsed.syntax}`,
    );
  }
  const header = (parsed as { value: unknown }).value;
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(`expected the header to be a JSON object, found ${describe(header)}`);
  }

  let metadata: Record<string, string> = {};
  const tensors: SafetensorsTensor[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = readMetadata(entry, fail);
      continue;
    }
    tensors.push(readEntry(name, entry, dataOffset, dataLength, fail));
  }

  // File order; then every tensor must start at or after the end of the one before it.
  tensors.sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let previous: SafetensorsTensor | undefined;
  for (const tensor of tensors) {
    if (tensor.byteLength === 0) continue;
    if (previous !== undefined && tensor.byteOffset < previous.byteOffset + previous.byteLength) {
      fail(
        `tensors ${excerpt(previous.name)} and ${excerpt(tensor.name)} overlap: data bytes ` +
          `${range(previous, dataOffset)} and ${range(tensor, dataOffset)}`,
      );
    }
    previous = tensor;
  }
  return Object.freeze({
    path,
    dataOffset,
    metadata: Object.freeze(metadata),
    tensors: new Map(tensors.map((t) => [t.name, t])),
  });
}

/** `__metadata__`: an object of strings (the format allows nothing else). */
function readMetadata(entry: unknown, fail: (message: string) => never): Record<string, string> {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    fail(`expected "__metadata__" to be an object of strings, found ${describe(entry)}`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof value !== "string") {
      fail(`expected "__metadata__".${excerpt(key)} to be a string, found ${describe(value)}`);
    }
    metadata[key] = value as string;
  }
  return metadata;
}

/** One tensor entry: dtype, shape, data_offsets; checked against the data section. */
function readEntry(
  name: string,
  entry: unknown,
  dataOffset: number,
  dataLength: number,
  fail: (message: string, fix?: string) => never,
): SafetensorsTensor {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    fail(
      `expected tensor ${excerpt(name)} to be an object with dtype, shape and data_offsets, found ${
        describe(entry)
      }`,
    );
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  const quoted = excerpt(name);
  if (typeof dtype !== "string") {
    fail(`expected tensor ${quoted} to have a dtype string, found ${describe(dtype)}`);
  }
  if (!Object.hasOwn(ELEMENT_BYTES, dtype as string)) {
    const known = OTHER_DTYPES.has(dtype as string) ? "" : "an unknown dtype, ";
    fail(
      `tensor ${quoted} has dtype ${
        excerpt(dtype as string)
      } (${known}not supported); llama-bolts runs BF16, F16 and F32 tensors`,
      "use the model's BF16, F16 or F32 safetensors (not a quantized export), or convert it " +
        "with transformers: model.to(torch.bfloat16).save_pretrained(folder)",
    );
  }
  const supported = dtype as SafetensorsDtype;
  if (
    !Array.isArray(shape) || shape.length > LIMITS.tensorRank ||
    !shape.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
  ) {
    fail(
      `expected tensor ${quoted} to have a shape of whole numbers (at most ` +
        `${LIMITS.tensorRank} of them), found ${describe(shape)}`,
    );
  }
  const dims = shape as number[];
  let numel = 1;
  for (const n of dims) numel *= n;
  if (!Number.isSafeInteger(numel)) {
    fail(`tensor ${quoted} has shape [${dims.join(", ")}], too many elements to address`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
  ) {
    fail(
      `expected tensor ${quoted} to have data_offsets [begin, end] of whole numbers, found ${
        describe(offsets)
      }`,
    );
  }
  const [begin, end] = offsets as number[];
  if (begin > end || end > dataLength) {
    fail(
      `tensor ${quoted} has data_offsets [${begin}, ${end}], out of range: the data section ` +
        `holds bytes 0..${dataLength}`,
    );
  }
  const elementBytes = ELEMENT_BYTES[supported];
  const byteLength = end - begin;
  if (byteLength !== numel * elementBytes) {
    fail(
      `tensor ${quoted} has data_offsets [${begin}, ${end}] (${byteLength} bytes), but shape ` +
        `[${dims.join(", ")}] of ${supported} needs ${numel * elementBytes} bytes`,
    );
  }
  const byteOffset = dataOffset + begin;
  if (byteOffset % elementBytes !== 0) {
    fail(
      `tensor ${quoted} starts at byte ${byteOffset} of the file, which is not aligned to its ` +
        `${elementBytes}-byte ${supported} elements`,
      "re-save the model with the safetensors library, which aligns every tensor",
    );
  }
  return Object.freeze({
    name,
    dtype: supported,
    type: SAFETENSORS_STORAGE[supported],
    shape: Object.freeze(dims.slice()),
    byteOffset,
    byteLength,
  });
}

/** A tensor's `[begin, end)` in the data section, for messages. */
function range(tensor: SafetensorsTensor, dataOffset: number): string {
  const begin = tensor.byteOffset - dataOffset;
  return `[${begin}, ${begin + tensor.byteLength})`;
}

/** A JSON value, shortened, for messages. */
function describe(value: unknown): string {
  return briefValue(value);
}
