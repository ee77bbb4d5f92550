/**
 * `info` on a GGUF file: its metadata (long arrays summarised), every tensor with its ggml
 * type, shape and bits per weight, and the totals. It reads the header only, so it also
 * describes files whose tensor types the engine cannot run yet.
 *
 * @example
 * ```ts
 * import { runGgufInfo } from "./gguf_info.ts";
 *
 * console.log(runGgufInfo("/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf", { json: false }));
 * ```
 *
 * @module
 */

import { type GgufFile, readGguf } from "../formats/gguf.ts";
import type { GgufValue } from "../formats/gguf_types.ts";
import { metaTensorNameOfGguf } from "../model/gguf_tensor_names.ts";
import { WeightsMemory } from "../tensor/weights_memory.ts";
import { formatBytes, formatCount, groupDigits, table } from "./info.ts";

/** The JSON form of `info --json` for a GGUF file. */
export interface GgufInfoJson {
  file: string;
  version: number;
  alignment: number;
  /** Values as written; arrays of more than 8 items as `{type, length, first}`. */
  metadata: Record<string, unknown>;
  tensors: Array<{
    name: string;
    meta_name?: string;
    type: string;
    supported: boolean;
    shape: number[];
    bits_per_weight: number;
    size_bytes: number;
  }>;
  parameter_count: number;
  size_bytes: number;
  /** Tensor bytes × 8 / parameters. */
  bits_per_weight: number;
}

/**
 * Describes a GGUF file.
 *
 * @param path The `.gguf` file.
 * @param options `json: true` for one JSON object ({@linkcode GgufInfoJson}).
 * @returns The text to print (without a trailing newline).
 * @throws {CheckpointError} When the file is not a valid GGUF file.
 */
export function runGgufInfo(path: string, options: { json: boolean }): string {
  const gguf = readHeader(path);
  const info = describeGguf(gguf, path);
  if (options.json) return JSON.stringify(info, (_, v) => typeof v === "bigint" ? String(v) : v, 2);
  const lines = [
    `GGUF file: ${path} (version ${info.version}, alignment ${info.alignment})`,
    "",
    `metadata (${gguf.metadata.size} keys):`,
    ...table([...gguf.metadata].map(([key, value]) => [key, showValue(value)]), "  "),
    "",
    `tensors (${info.tensors.length}):`,
    ...table(
      info.tensors.map((t) => [
        t.name,
        t.supported ? t.type : `${t.type} (not supported yet)`,
        `[${t.shape.join(", ")}]`,
        `${t.bits_per_weight.toFixed(2)} bpw`,
        formatBytes(t.size_bytes),
        t.meta_name ?? "",
      ]),
      "  ",
    ),
    "",
    `parameters: ${groupDigits(info.parameter_count)} (${formatCount(info.parameter_count)}), ` +
    `${formatBytes(info.size_bytes)}, ${info.bits_per_weight.toFixed(2)} bits per weight`,
  ];
  return lines.join("\n");
}

/**
 * The facts `info` reports on a GGUF file, as plain data.
 *
 * @param gguf The parsed header.
 * @param path The file.
 * @returns The JSON object of `info --json`.
 */
export function describeGguf(gguf: GgufFile, path: string): GgufInfoJson {
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of gguf.metadata) {
    metadata[key] = value.type === "array" && value.value.length > 8
      ? {
        type: value.itemType,
        length: value.value.length,
        first: Array.from(value.value).slice(0, 3),
      }
      : value.type === "array"
      ? Array.from(value.value)
      : value.value;
  }
  let parameters = 0, bytes = 0;
  const tensors = [...gguf.tensors.values()].map((t) => {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    parameters += elements;
    bytes += t.byteLength;
    const metaName = metaTensorNameOfGguf(t.name);
    return {
      name: t.name,
      ...(metaName === undefined ? {} : { meta_name: metaName }),
      type: t.type.name,
      supported: t.type.storage !== undefined,
      shape: [...t.shape],
      bits_per_weight: (t.type.blockBytes * 8) / t.type.blockElements,
      size_bytes: t.byteLength,
    };
  });
  return {
    file: path,
    version: gguf.version,
    alignment: gguf.alignment,
    metadata,
    tensors,
    parameter_count: parameters,
    size_bytes: bytes,
    bits_per_weight: parameters === 0 ? 0 : (bytes * 8) / parameters,
  };
}

function readHeader(path: string): GgufFile {
  using weights = WeightsMemory.open([path]);
  return readGguf(weights.files[0].bytes, path);
}

/** A value on one line: strings quoted and cut, long arrays summarised. */
function showValue(value: GgufValue): string {
  const one = (v: unknown) => {
    if (typeof v !== "string") return String(v);
    const quoted = JSON.stringify(v);
    return quoted.length > 60 ? `${quoted.slice(0, 57)}…" (${v.length} chars)` : quoted;
  };
  if (value.type !== "array") return one(value.value);
  const items = Array.from(value.value);
  const shown = items.slice(0, 5).map(one).join(", ");
  return `[${value.itemType} × ${items.length}] ${shown}${items.length > 5 ? ", …" : ""}`;
}
