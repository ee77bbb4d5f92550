/**
 * Random-weight Llama 3 checkpoints with the exact shape of a real model, for
 * benchmarks and demos when Meta's weights are not at hand.
 *
 * {@link writeSyntheticModel} writes a Meta model folder: `params.json`,
 * `consolidated.00.pth` (Meta's tensor names, order and shapes, one storage per
 * tensor, archive folder `consolidated`, a plain dict, storages in string order
 * `0, 1, 10, …` as torch 2.4 wrote Meta's files) and, optionally, a hard link or
 * copy of `tokenizer.model`. Weights are drawn from a normal
 * distribution with standard deviation `1/sqrt(fan_in)` so activations keep a
 * sane scale through the layers; RMSNorm weights are close to 1. The text such
 * a model writes is meaningless, but every byte of work the engine does on it is
 * the same as on the real model.
 *
 * Generation is fast enough for the 8B shape (16 GB): each 32-bit draw of a
 * seeded xoshiro128** generator yields two elements through a 65536-entry table
 * of normal quantiles already converted to the target dtype, and the file is
 * streamed in chunks (see `PthWriter`).
 *
 * @example
 * ```ts
 * import { PRESETS, writeSyntheticModel } from "./synthetic.ts";
 * const { params, tied } = PRESETS.tiny;
 * await writeSyntheticModel("/tmp/llama-tiny", params, { seed: 1, dtype: "bf16", tied });
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import { CheckpointError } from "../errors.ts";
import { pathExists } from "../files.ts";
import { copyFileAtomic, writeFileAtomic } from "../formats/atomic_file.ts";
import { PthWriter, type TensorSpec } from "../formats/pth_writer.ts";
import { type FloatStorageType, storageBytes } from "../tensor/storage.ts";
import { expectedTensorShapes, PARAMS_FILE, WEIGHTS_FILE } from "./checkpoint.ts";
import { parseModelConfig } from "./config.ts";

/** The keys of Meta's `params.json` for Llama 3.x. */
export interface ParamsJson {
  /** Model width. */
  dim: number;
  /** Number of transformer blocks. */
  n_layers: number;
  /** Number of query heads. */
  n_heads: number;
  /** Number of key/value heads. */
  n_kv_heads: number;
  /** Vocabulary size (128256 for Llama 3). */
  vocab_size: number;
  /** The feed-forward size is rounded up to a multiple of this. */
  multiple_of: number;
  /** Scales the feed-forward size, or null. */
  ffn_dim_multiplier: number | null;
  /** RMSNorm epsilon. */
  norm_eps: number;
  /** RoPE base frequency. */
  rope_theta: number;
  /** Llama 3.1 RoPE scaling for long contexts. */
  use_scaled_rope: boolean;
}

/** A model shape: its `params.json` and whether the output layer reuses the embeddings. */
export interface ModelPreset {
  /** One line for `--help` and logs. */
  readonly description: string;
  /** The `params.json` content. */
  readonly params: Readonly<ParamsJson>;
  /** `true`: no `output.weight` (Llama 3.2 1B and 3B tie it to `tok_embeddings.weight`). */
  readonly tied: boolean;
}

/** Names of the built-in presets. */
export type PresetName = "1b" | "8b" | "tiny";

/**
 * Built-in model shapes. `1b` and `8b` are the `params.json` Meta publishes
 * with Llama 3.2 1B and Llama 3.1 8B; `tiny` keeps the real vocabulary (so the
 * real tokenizer works) with a 64-wide, 2-layer body: about 17 MB in bf16.
 */
export const PRESETS: Readonly<Record<PresetName, ModelPreset>> = Object.freeze({
  "1b": {
    description: "Llama 3.2 1B shape: 1.24B parameters, tied embeddings, 2.5 GB in bf16",
    params: Object.freeze({
      dim: 2048,
      n_layers: 16,
      n_heads: 32,
      n_kv_heads: 8,
      vocab_size: 128256,
      multiple_of: 256,
      ffn_dim_multiplier: 1.5,
      norm_eps: 1e-5,
      rope_theta: 500000,
      use_scaled_rope: true,
    }),
    tied: true,
  },
  "8b": {
    description: "Llama 3.1 8B shape: 8.03B parameters, 16 GB in bf16",
    params: Object.freeze({
      dim: 4096,
      n_layers: 32,
      n_heads: 32,
      n_kv_heads: 8,
      vocab_size: 128256,
      multiple_of: 1024,
      ffn_dim_multiplier: 1.3,
      norm_eps: 1e-5,
      rope_theta: 500000,
      use_scaled_rope: true,
    }),
    tied: false,
  },
  tiny: {
    description: "tiny: dim 64, 2 layers, real 128256-token vocabulary, 17 MB in bf16",
    params: Object.freeze({
      dim: 64,
      n_layers: 2,
      n_heads: 4,
      n_kv_heads: 2,
      vocab_size: 128256,
      multiple_of: 32,
      ffn_dim_multiplier: 1.5,
      norm_eps: 1e-5,
      rope_theta: 500000,
      use_scaled_rope: true,
    }),
    tied: true,
  },
});

/** How one tensor's elements are drawn: `mean + std * z`, z standard normal. */
export interface SyntheticTensor extends TensorSpec {
  /** Mean of the elements (1 for RMSNorm weights, else 0). */
  readonly mean: number;
  /** Standard deviation of the elements. */
  readonly std: number;
}

/** The tokenizer's file name in a Meta model folder. */
const TOKENIZER_FILE = "tokenizer.model";

/** Spread of the RMSNorm weights around 1. */
const NORM_STD = 0.05;

/**
 * The tensors of a model folder, in Meta's order, with the distribution each
 * is drawn from.
 *
 * @param params The model's `params.json`.
 * @param tied Leave out `output.weight`.
 * @param dtype Element type of every tensor.
 * @returns One entry per tensor.
 * @throws {ConfigError} When `params` is not a valid Llama 3 configuration.
 */
export function syntheticTensors(
  params: Readonly<ParamsJson>,
  tied: boolean,
  dtype: FloatStorageType,
): SyntheticTensor[] {
  const config = parseModelConfig(JSON.stringify(params), PARAMS_FILE);
  return expectedTensorShapes(config, tied).map(([name, shape]) => {
    if (shape.length === 1) return { name, dtype, shape, mean: 1, std: NORM_STD };
    // Weights are [out, in]: std 1/sqrt(in) keeps each output's variance near its input's.
    // The embedding is [vocab, dim]; 1/sqrt(dim) also keeps tied logits near unit scale.
    return { name, dtype, shape, mean: 0, std: 1 / Math.sqrt(shape[1]) };
  });
}

/** Options for {@link writeSyntheticModel}. */
export interface SyntheticModelOptions {
  /** Seed of the random weights; the same seed writes the same bytes. */
  seed: number;
  /** Element type of the weights. */
  dtype: FloatStorageType;
  /** Leave out `output.weight` (tied embeddings). Default false. */
  tied?: boolean;
  /** Called after each chunk with bytes of tensor data done and in total. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** A `tokenizer.model` to hard-link (or copy) into the folder. */
  tokenizerPath?: string;
  /** Replace an existing `consolidated.00.pth`. Default false: throw instead. */
  overwrite?: boolean;
  /** Bytes per generated chunk (default 8 MiB). */
  chunkBytes?: number;
}

/** What {@link writeSyntheticModel} wrote. */
export interface SyntheticModelResult {
  /** Path of `consolidated.00.pth`. */
  readonly weightsPath: string;
  /** Number of tensors. */
  readonly tensorCount: number;
  /** Number of parameters (elements). */
  readonly parameterCount: number;
  /** Size of `consolidated.00.pth` in bytes. */
  readonly fileBytes: number;
}

/**
 * Writes a random-weight model folder: `params.json`, `consolidated.00.pth`
 * and, if given, `tokenizer.model`.
 *
 * @param dir The folder (created if missing).
 * @param params The model's `params.json`.
 * @param options Seed, dtype, tied embeddings, progress callback, tokenizer.
 * @returns Paths and sizes.
 * @throws {CheckpointError} When `consolidated.00.pth` exists and `overwrite` is not set.
 * @throws {ConfigError} When `params` is not a valid Llama 3 configuration.
 */
export async function writeSyntheticModel(
  dir: string,
  params: Readonly<ParamsJson>,
  options: SyntheticModelOptions,
): Promise<SyntheticModelResult> {
  const tensors = syntheticTensors(params, options.tied ?? false, options.dtype);
  const root = resolve(dir);
  const weightsPath = join(root, WEIGHTS_FILE);
  if (!options.overwrite && pathExists(weightsPath)) {
    throw new CheckpointError(`expected no ${WEIGHTS_FILE} in the folder, found one`, {
      path: weightsPath,
      fix: "choose another folder, or allow overwriting it",
    });
  }
  // Check the tokenizer before the long write, not after.
  const tokenizer = options.tokenizerPath === undefined
    ? undefined
    : await tokenizerSource(options.tokenizerPath);
  await Deno.mkdir(root, { recursive: true });

  const elementBytes = storageBytes(options.dtype, 1);
  const parameterCount = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  const bytesTotal = parameterCount * elementBytes;
  let bytesDone = 0;

  // Meta's layout: archive folder "consolidated", a plain dict, storages in
  // string-sorted key order (torch before 2.5).
  const writer = await PthWriter.create(weightsPath, {
    archiveName: "consolidated",
    container: "dict",
    plan: tensors,
    sortStorageKeys: true,
    chunkBytes: options.chunkBytes,
  });
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const tables = new Map<string, ElementTable>();
  for (const { name } of writer.writeOrder) {
    const t = byName.get(name)!;
    const tableKey = `${t.mean}/${t.std}`;
    let table = tables.get(tableKey);
    if (!table) {
      table = normalTable(options.dtype, t.mean, t.std);
      tables.set(tableKey, table);
    }
    const random = new Xoshiro128(tensorSeed(options.seed, t.name));
    const elements = table;
    await writer.addTensor(t.name, t.dtype, t.shape, (chunk) => {
      fillFromTable(chunk, elements, random);
      bytesDone += chunk.length;
      options.onProgress?.(bytesDone, bytesTotal);
    });
  }
  await writer.close();

  // params.json after the weights: a run that fails leaves no params.json without weights.
  await writeFileAtomic(join(root, PARAMS_FILE), JSON.stringify(params, null, 2) + "\n");
  if (tokenizer !== undefined) await placeTokenizer(tokenizer, join(root, TOKENIZER_FILE));
  const { size } = await Deno.stat(weightsPath);
  return { weightsPath, tensorCount: tensors.length, parameterCount, fileBytes: size };
}

/** The real path of a tokenizer file; a CheckpointError when it is missing or a folder. */
async function tokenizerSource(path: string): Promise<string> {
  try {
    const real = await Deno.realPath(path);
    if ((await Deno.stat(real)).isFile) return real;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  throw new CheckpointError(`expected a ${TOKENIZER_FILE} file, found none`, {
    path,
    fix: "pass the tokenizer.model that comes with Meta's Llama 3 download",
  });
}

/** Hard-links `sourceReal` to `target` (instant, no extra space), or copies it across devices. */
async function placeTokenizer(sourceReal: string, target: string): Promise<void> {
  if (pathExists(target)) {
    if ((await Deno.realPath(target)) === sourceReal) return; // already in place
    await Deno.remove(target);
  }
  try {
    await Deno.link(sourceReal, target);
  } catch {
    await copyFileAtomic(sourceReal, target); // another device: a copy, whole or not at all
  }
}

// ---------------------------------------------------------------------------
// Random elements

/** 65536 precomputed elements: entry i is the dtype's bits of `mean + std * z_i`. */
type ElementTable = Uint16Array | Float32Array;

/**
 * Builds the table of normal quantiles `z_i = Φ⁻¹((i + 0.5) / 65536)` scaled to
 * `mean + std * z_i`, in the target dtype. Picking a uniform 16-bit index then
 * draws from the normal distribution (clipped at ±4.3σ).
 */
function normalTable(dtype: FloatStorageType, mean: number, std: number): ElementTable {
  const values = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) values[i] = mean + std * inverseNormalCdf((i + 0.5) / 65536);
  if (dtype === "f32") return values;
  if (dtype === "f16") return new Uint16Array(new Float16Array(values).buffer);
  const bits = new Uint32Array(values.buffer);
  const out = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) {
    // Round to nearest even on the 16 dropped bits (values are finite).
    const b = bits[i];
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

/**
 * Φ⁻¹(p), the standard normal quantile, by Acklam's rational approximation
 * (relative error below 1.2e-9, far finer than bf16 or f32 can show).
 */
function inverseNormalCdf(p: number): number {
  const a = [
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.357751867269,
    -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406,
    161.5858368580409,
    -155.6989798598866,
    66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    return p < low ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Fills a chunk with table entries picked by the generator: each 32-bit draw
 * gives two indices (low half first), so the bytes depend only on the seed and
 * not on how the tensor is cut into chunks (chunks hold an even number of
 * elements, except the tensor's last). The generator is inlined: this loop
 * produces every byte of a 16 GB checkpoint.
 */
function fillFromTable(chunk: Uint8Array, table: ElementTable, random: Xoshiro128): void {
  const state = random.state;
  let a = state[0], b = state[1], c = state[2], d = state[3];
  if (table instanceof Float32Array) {
    // out: [n] f32, two elements per draw
    const out = new Float32Array(chunk.buffer, chunk.byteOffset, chunk.length >>> 2);
    const n = out.length & ~1;
    for (let i = 0; i < n; i += 2) {
      const x = Math.imul(b, 5); // xoshiro128** step, as in Xoshiro128.next()
      const r = Math.imul((x << 7) | (x >>> 25), 9);
      const t = b << 9;
      c ^= a, d ^= b, b ^= c, a ^= d, c ^= t, d = (d << 11) | (d >>> 21);
      out[i] = table[r & 0xffff];
      out[i + 1] = table[(r >>> 16) & 0xffff];
    }
    state[0] = a, state[1] = b, state[2] = c, state[3] = d;
    if (out.length & 1) out[n] = table[random.next() & 0xffff];
    return;
  }
  // out: [n/2] u32, two 16-bit elements per word and draw, little-endian (low half first)
  const out = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length >>> 2);
  for (let i = 0; i < out.length; i++) {
    const x = Math.imul(b, 5); // xoshiro128** step, as in Xoshiro128.next()
    const r = Math.imul((x << 7) | (x >>> 25), 9);
    const t = b << 9;
    c ^= a, d ^= b, b ^= c, a ^= d, c ^= t, d = (d << 11) | (d >>> 21);
    out[i] = table[r & 0xffff] | (table[(r >>> 16) & 0xffff] << 16);
  }
  state[0] = a, state[1] = b, state[2] = c, state[3] = d;
  if (chunk.length & 2) {
    // The tensor's last element when its element count is odd.
    const last = new Uint16Array(chunk.buffer, chunk.byteOffset, chunk.length >>> 1);
    last[last.length - 1] = table[random.next() & 0xffff];
  }
}

/** A tensor's own seed, from the model seed and its name (so tensors are independent). */
function tensorSeed(seed: number, name: string): number {
  // FNV-1a over the name, then the seed's low and high 32 bits mixed in.
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (seed >>> 0), 0x01000193);
  h = Math.imul(h ^ Math.floor(seed / 2 ** 32), 0x01000193);
  return h >>> 0;
}

/** xoshiro128** (Blackman and Vigna): a small, fast 32-bit generator, seeded by splitmix32. */
class Xoshiro128 {
  /** The four state words (the fill loop steps them inline). */
  readonly state = new Uint32Array(4);

  constructor(seed: number) {
    let s = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.state[i] = z ^ (z >>> 16);
    }
  }

  /** The next 32 random bits, as an unsigned integer. */
  next(): number {
    const s = this.state;
    const x = Math.imul(s[1], 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >>> 21);
    return result;
  }
}
