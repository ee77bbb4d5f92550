/**
 * The `info` command: a model's metadata. Lists every tensor with its dtype and shape (and, for
 * a Hugging Face folder, its name in the file), the hyperparameters of `params.json` or
 * `config.json`, the sizes derived from them and the parameter count, as readable text or as
 * one JSON object.
 *
 * @example
 * ```ts
 * import { runInfo } from "./info.ts";
 * import { loadCheckpoint } from "../model/checkpoint.ts";
 *
 * using checkpoint = loadCheckpoint("/home/me/.llama/checkpoints/Llama3.1-8B-Instruct");
 * console.log(runInfo(checkpoint, { json: false }));
 * ```
 *
 * @module
 */

import { briefValue, excerpt } from "../formats/excerpt.ts";
import type { Checkpoint } from "../model/checkpoint.ts";

/** The JSON form of `info --json`. */
export interface InfoJson {
  tensors: Array<{ name: string; dtype: string; shape: number[]; source_name?: string }>;
  /** `params.json` (or `config.json`) as written. */
  params: Record<string, unknown>;
  derived: {
    head_dim: number;
    kv_dim: number;
    hidden_dim: number;
    n_rep: number;
    tied_embeddings: boolean;
    max_context: number;
    parameter_count: number;
    size_bytes: number;
  };
}

/**
 * Describes a checkpoint.
 *
 * @param checkpoint An open checkpoint.
 * @param options `json: true` for one JSON object ({@linkcode InfoJson}), else readable text.
 * @returns The text to print (without a trailing newline).
 */
export function runInfo(checkpoint: Checkpoint, options: { json: boolean }): string {
  const info = describeCheckpoint(checkpoint);
  if (options.json) return JSON.stringify(info, null, 2);

  const { config } = checkpoint;
  const d = info.derived;
  const lines: string[] = [];
  lines.push(`model metadata: ${checkpoint.path}`);
  const placed = checkpoint.weights.mapped ? "mapped into memory" : "copied into memory";
  for (const file of checkpoint.weights.files) {
    lines.push(`  weights: ${file.path} (${formatBytes(file.byteLength)}, ${placed})`);
  }
  if (checkpoint.format === "huggingface") {
    lines.push(
      "  format: Hugging Face safetensors; q/k rows in rotate_half order (RoPE rotates halves)",
    );
  }
  lines.push("");
  lines.push(
    `hyperparameters (${checkpoint.format === "huggingface" ? "config.json" : "params.json"}):`,
  );
  // Names and values come from the file: shortened and escaped, like any untrusted text.
  const paramRows = Object.entries(info.params).map(([k, v]) => [printable(k), briefValue(v, 80)]);
  lines.push(...table(paramRows, "  "));
  lines.push("");
  lines.push("derived:");
  lines.push(...table([
    ["head_dim", `${d.head_dim}`, `dim / n_heads = ${config.dim} / ${config.nHeads}`],
    ["kv_dim", `${d.kv_dim}`, `n_kv_heads * head_dim = ${config.nKvHeads} * ${config.headDim}`],
    [
      "hidden_dim",
      `${d.hidden_dim}`,
      checkpoint.format === "huggingface"
        ? "feed-forward size: intermediate_size"
        : "feed-forward size, as Meta's reference computes it",
    ],
    ["n_rep", `${d.n_rep}`, "query heads per key/value head"],
    [
      "tied_embeddings",
      d.tied_embeddings ? "yes" : "no",
      d.tied_embeddings ? "no output.weight: the output layer reuses tok_embeddings" : "",
    ],
    ["max_context", `${d.max_context}`, "tokens"],
    ["parameter_count", groupDigits(d.parameter_count), `(${formatCount(d.parameter_count)})`],
    ["size", `${groupDigits(d.size_bytes)} bytes`, `(${formatBytes(d.size_bytes)})`],
  ], "  "));
  lines.push("");
  lines.push(`tensors (${info.tensors.length}):`);
  lines.push(
    ...table(
      info.tensors.map((t) => [
        printable(t.name),
        t.dtype,
        `[${t.shape.join(", ")}]`,
        t.source_name === undefined ? "" : printable(t.source_name),
      ]),
      "  ",
    ),
  );
  return lines.join("\n");
}

/**
 * The facts `info` reports, as plain data.
 *
 * @param checkpoint An open checkpoint.
 * @returns The JSON object of `info --json`.
 */
export function describeCheckpoint(checkpoint: Checkpoint): InfoJson {
  const { config } = checkpoint;
  let parameterCount = 0;
  let sizeBytes = 0;
  const tensors = [];
  for (const t of checkpoint.tensors.values()) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    parameterCount += numel;
    sizeBytes += t.byteLength;
    const tensor = { name: t.name, dtype: t.type, shape: [...t.shape] };
    tensors.push(t.sourceName === t.name ? tensor : { ...tensor, source_name: t.sourceName });
  }
  return {
    tensors,
    params: { ...config.params },
    derived: {
      head_dim: config.headDim,
      kv_dim: config.kvDim,
      hidden_dim: config.hiddenDim,
      n_rep: config.nHeads / config.nKvHeads,
      tied_embeddings: checkpoint.tiedEmbeddings,
      max_context: config.maxContext,
      parameter_count: parameterCount,
      size_bytes: sizeBytes,
    },
  };
}

/** Left-aligned columns, separated by two spaces; trailing empty cells are dropped. */
export function table(rows: string[][], indent: string): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return rows.map((row) =>
    indent + row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]))
      .join("  ").trimEnd()
  );
}

/** 8030261248 → "8,030,261,248". */
export function groupDigits(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** 8030261248 → "8.03 B", 1235814400 → "1.24 B", 29856 → "29.9 K". */
export function formatCount(n: number): string {
  const units: Array<[number, string]> = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [scale, unit] of units) {
    if (n >= scale) return `${(n / scale).toFixed(n / scale >= 100 ? 0 : 2)} ${unit}`;
  }
  return String(n);
}

/** Bytes in binary units: 16060522496 → "14.96 GiB". */
export function formatBytes(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = "bytes";
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return unit === "bytes" ? `${n} bytes` : `${value.toFixed(2)} ${unit}`;
}

/** A name from a file as the table shows it: unquoted when it needs no escaping. */
function printable(name: string): string {
  const quoted = excerpt(name, 120);
  return quoted === `"${name}"` ? name : quoted;
}
