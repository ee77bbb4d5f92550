/**
 * Which tile plan suits each block type: the same block-type kernel emitted with several tile
 * plans, run on the same weights, the plans taking turns round after round so that a noisy
 * moment hits them all; prints the median time of each and its GB/s (decode) or GFLOP/s
 * (prefill). One thread, a 4096 × 4096 matrix rotating through 1 GiB so that weights come
 * from DRAM. This is how `DEFAULT_BLOCK_TILES` in `lib/kernels/wasm/block_matmul.ts` was chosen.
 *
 * ```text
 * deno run -A bench/block_plan_probe.ts [--types q6_k,q4_0,bf16] [--plans 1x1,8x1] [--tokens 1]
 *                                        [--rows 4096] [--cols 4096] [--region-mib 1024]
 *                                        [--against DIR] [--dot-add on|off|both]
 * ```
 *
 * `--rows` and `--cols` set the matrix (Llama 3.2 1B's are 2048 or 8192 columns wide);
 * `--region-mib` the memory the matrices rotate through (small: they come from the caches).
 *
 * A plan `RxB` is R rows × B tokens per tile; with `--tokens 1` (decode) only R matters.
 * `--against DIR` adds, for each plan, the kernels of another checkout of the project (its
 * `lib/kernels/wasm/kernels.ts`), so that a change is measured against what it replaces in
 * the same process, rounds interleaved. `--dot-add` runs each plan with the accumulating 8-bit
 * dot product (`on`), without it (`off`) or both, instead of the form `dot_add_probe.ts` picks.
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createBackend } from "../lib/kernels/steps.ts";
import { compileKernels } from "../lib/kernels/wasm/kernels.ts";
import { RunState } from "../lib/model/run_state.ts";
import { storageBytes, type StorageType } from "../lib/tensor/storage.ts";
import { fillRandomF32 } from "./data.ts";
import { sharedMemory64 } from "../lib/tensor/weights_memory.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    types: { type: "string", default: "q8_0,q4_0,q5_0,q4_k,q5_k,q6_k" },
    plans: { type: "string", default: "1x1,2x1,4x1,8x1" },
    tokens: { type: "string", default: "1" },
    rounds: { type: "string" },
    against: { type: "string" },
    rows: { type: "string", default: "4096" },
    cols: { type: "string", default: "4096" },
    "region-mib": { type: "string", default: "1024" },
    "dot-add": { type: "string" },
  },
});
const types = values.types.split(",") as StorageType[];
const plans = values.plans.split(",").map((p) => p.split("x").map(Number));
const tokens = Number(values.tokens);
const rounds = Number(values.rounds ?? (tokens === 1 ? 40 : 6));

const ROWS = Number(values.rows), COLS = Number(values.cols);
const REGION = Number(values["region-mib"]) * 2 ** 20;
const weights = sharedMemory64(REGION);
// Normal float16 bit patterns in every 16-bit word, so that every block's scales are finite.
const words = new Uint32Array(weights.buffer, 0, REGION / 4);
let seed = 11;
for (let i = 0; i < words.length; i++) {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  words[i] = (seed & 0x807f807f) | 0x3c003c00;
}
const state = RunState.allocate({
  dim: COLS,
  kvDim: 1024,
  hiddenDim: 14336,
  nLayers: 1,
  nHeads: 32,
  vocabSize: ROWS,
  contextLength: 16,
  maxBatch: 64,
  threads: 1,
});
fillRandomF32(state.xb.view, 1);
fillRandomF32(state.hb.view, 2);

type Compile = typeof compileKernels;
const sources: Array<[string, Compile]> = [["this", compileKernels]];
if (values.against !== undefined) {
  const url = pathToFileURL(resolve(values.against, "lib/kernels/wasm/kernels.ts"));
  const other = await import(url.href) as { compileKernels: Compile };
  sources.push([values.against, other.compileKernels]);
}
// `--dot-add both` runs every plan with each 8-bit dot product form (default: the probe's pick).
const dotAdds = values["dot-add"] === undefined
  ? [undefined]
  : values["dot-add"] === "both"
  ? [true, false]
  : [values["dot-add"] === "on"];
const variants = plans.flatMap(([rows, batch]) =>
  sources.flatMap(([label, compile]) =>
    dotAdds.map((dotAdd) => ({
      label: [
        `${rows}x${batch}`,
        sources.length > 1 ? label : "",
        dotAdd === undefined ? "" : dotAdd ? "dotAdd" : "maddubs",
      ].filter(Boolean).join(" "),
      backend: createBackend("wasm", {
        backend: "wasm",
        weights,
        state: state.memory,
        module: compile({
          dotAdd,
          blockTiles: tokens === 1
            ? { rows: 1, tokens: 1, vectorRows: rows }
            : { rows, tokens: batch, vectorRows: 1 },
          // The float types' tiles (bf16, f16, f32) too; a prefill plan keeps their
          // default one-token tiles of 4 rows.
          tiles: tokens === 1
            ? { rows: 1, tokens: 1, vectorRows: rows }
            : { rows, tokens: batch, vectorRows: 4 },
        }),
        scratch: state.scratch[0],
        maxScores: 1024,
        maxCols: 14336,
        oneRowDecode: false, // the plan's rows, not what the first calls time faster
      }),
    }))
  )
);
const [x, out] = tokens === 1 ? [state.xb, state.logits] : [state.hb, state.q];
const median = (a: number[]) => a.toSorted((p, q) => p - q)[a.length >> 1];

for (const type of types) {
  const bytes = ROWS * storageBytes(type, COLS);
  const slots = Math.floor(REGION / bytes);
  const repeats = tokens === 1 ? 5 : 1;
  const times: number[][] = variants.map(() => []);
  let slot = 0;
  for (let round = 0; round < rounds; round++) {
    variants.forEach(({ backend }, v) => {
      const started = performance.now();
      for (let j = 0; j < repeats; j++) {
        const matrix = { type, byteOffset: (slot++ % slots) * bytes, rows: ROWS, cols: COLS };
        backend.matMul(matrix, x.byteOffset, out.byteOffset, ROWS, tokens, 0, ROWS);
      }
      times[v].push((performance.now() - started) / repeats);
    });
  }
  const cells = variants.map(({ label }, v) => {
    const ms = median(times[v]);
    const rate = tokens === 1
      ? `${(bytes / ms / 1e6).toFixed(1)} GB/s`
      : `${((2 * tokens * ROWS * COLS) / ms / 1e6).toFixed(1)} GFLOP/s`;
    return `${label} ${ms.toFixed(2)} ms ${rate}`;
  });
  console.log(`${type}: ${cells.join(" | ")}`);
}
