/**
 * Loads the PyTorch-written golden cases in `tests/fixtures/golden/` (made by
 * `tools/make_golden.py`): a tiny random-weight checkpoint in Meta's format plus the reference
 * model's prompt, greedy continuation and float32 logits.
 *
 * @example
 * ```ts
 * import { GOLDEN_CASES, loadGoldenCase } from "./helpers/golden.ts";
 *
 * for (const name of GOLDEN_CASES) {
 *   const golden = loadGoldenCase(name);
 *   // golden.dir is a checkpoint folder (params.json + consolidated.00.pth).
 *   // Prefill golden.promptIds, compare with golden.logits[0], then feed greedyIds[k - 1]
 *   // and compare with golden.logits[k].
 * }
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** Folder holding one sub-folder per golden case. */
export const GOLDEN_DIR: string = fileURLToPath(new URL("../fixtures/golden/", import.meta.url));

/** Names of the golden cases, one folder each under {@linkcode GOLDEN_DIR}. */
export const GOLDEN_CASES: string[] = ["gqa_scaled", "tied", "llama3_unscaled"];

/** Meta's params.json of a golden model, as written. */
export interface GoldenParams {
  dim: number;
  n_layers: number;
  n_heads: number;
  n_kv_heads: number;
  vocab_size: number;
  multiple_of: number;
  ffn_dim_multiplier: number | null;
  norm_eps: number;
  rope_theta: number;
  use_scaled_rope: boolean;
}

/** Where a float32 matrix lives and what its rows mean. */
export interface GoldenMatrixInfo {
  file: string;
  dtype: "float32";
  endian: "little";
  rows?: number;
  cols: number;
  rowMeaning?: string;
  positions?: number[];
}

/** `golden.json`: everything the script knew about the case. */
export interface GoldenMeta {
  name: string;
  description: string;
  params: GoldenParams;
  derived: { headDim: number; kvDim: number; hiddenDim: number; ropeFrequencies: number[] };
  weightDtype: "bf16" | "f16" | "f32";
  tiedEmbeddings: boolean;
  seed: number;
  residualGain: number;
  /** The state_dict container pickled into consolidated.00.pth. */
  pickledAs: "dict" | "collections.OrderedDict";
  promptLength: number;
  steps: number;
  promptIds: number[];
  greedyIds: number[];
  logits: GoldenMatrixInfo;
  prefillLogits: GoldenMatrixInfo & { positions: number[] };
  hidden: GoldenMatrixInfo;
  /** Standard deviation of all values in `logits.f32`. */
  logitsStd: number;
  /** Top-1 minus top-2 logit of each greedy step. */
  greedyMargins: number[];
  minGreedyMargin: number;
  distinctGreedyIds: number;
  /** The same weights run with the other RoPE variant (scaled <-> unscaled). */
  otherRope: {
    useScaledRope: boolean;
    maxAbsDiffRow0: number;
    meanAbsDiffRow0: number;
    maxAbsDiffPrefillRows: number;
    firstDifferentGreedyStep: number | null;
  };
  /** Max |logit change| when RoPE angles are computed in float32 (as Meta does) not float64. */
  float32AnglesMaxAbsDiff: number;
  /** Max |golden logit - the same math in float64|: float32 rounding in the reference itself. */
  float64MaxAbsDiff: number;
  reference: string;
}

/** One golden case, loaded. */
export interface GoldenCase {
  name: string;
  /** Checkpoint folder: `params.json` and `consolidated.00.pth` (no tokenizer.model). */
  dir: string;
  promptIds: number[];
  greedyIds: number[];
  /** One row of vocabSize logits per greedy step; step 0 = last prompt position after prefill. */
  logits: Float32Array[];
  /** Prefill-pass logits at `prefillPositions` (prompt positions, 0-based). */
  prefillLogits: Float32Array[];
  prefillPositions: number[];
  /** Residual stream at the last prompt position: [0] embedding, [i] after layer i. */
  hidden: Float32Array[];
  meta: GoldenMeta;
}

/**
 * Reads one golden case.
 *
 * @param name A name from {@linkcode GOLDEN_CASES}.
 * @returns The case's ids, logits rows and metadata; `dir` is its checkpoint folder.
 * @example
 * ```ts
 * const golden = loadGoldenCase("gqa_scaled");
 * golden.logits[0].length === golden.meta.params.vocab_size; // true
 * ```
 */
export function loadGoldenCase(name: string): GoldenCase {
  if (!GOLDEN_CASES.includes(name)) {
    throw new Error(`unknown golden case "${name}"; expected one of ${GOLDEN_CASES.join(", ")}`);
  }
  const dir = join(GOLDEN_DIR, name);
  const meta = JSON.parse(Deno.readTextFileSync(join(dir, "golden.json"))) as GoldenMeta;
  const vocab = meta.params.vocab_size;
  const logits = readRows(dir, meta.logits.file, meta.steps, vocab);
  const prefillPositions = meta.prefillLogits.positions;
  const prefillLogits = readRows(dir, meta.prefillLogits.file, prefillPositions.length, vocab);
  const hidden = readRows(dir, meta.hidden.file, meta.params.n_layers + 1, meta.params.dim);
  if (meta.promptIds.length !== meta.promptLength || meta.greedyIds.length !== meta.steps) {
    throw new Error(
      `${name}/golden.json: expected ${meta.promptLength} prompt ids and ${meta.steps} greedy ` +
        `ids, found ${meta.promptIds.length} and ${meta.greedyIds.length}`,
    );
  }
  return {
    name,
    dir,
    promptIds: meta.promptIds,
    greedyIds: meta.greedyIds,
    logits,
    prefillLogits,
    prefillPositions,
    hidden,
    meta,
  };
}

/** Reads a little-endian float32 matrix [rows, cols] and splits it into rows. */
function readRows(dir: string, file: string, rows: number, cols: number): Float32Array[] {
  const path = join(dir, file);
  const bytes = Deno.readFileSync(path);
  if (bytes.byteLength !== rows * cols * 4) {
    throw new Error(
      `${path}: expected ${rows}x${cols} float32 (${rows * cols * 4} bytes), ` +
        `found ${bytes.byteLength} bytes; rerun /usr/bin/python3 tools/make_golden.py`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Float32Array[] = [];
  for (let r = 0; r < rows; r++) {
    const row = new Float32Array(cols);
    for (let c = 0; c < cols; c++) row[c] = view.getFloat32((r * cols + c) * 4, true);
    out.push(row);
  }
  return out;
}
