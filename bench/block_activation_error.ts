/**
 * How far the block kernels' results are from exact dot products of the weights the blocks
 * hold, with activations quantized to 8 bits per 32 (the default) and with float32 activations
 * (the measured alternative, Q8_0 and Q4_0): ‖y − y_ref‖ / ‖y_ref‖ over all outputs, where
 * `y_ref` is the TypeScript twin (float64 sums of the decoded weights). Activations are
 * Gaussian with a few channels 20× larger, as a normed Llama residual stream has.
 *
 * Run: `deno run --allow-read bench/block_activation_error.ts` (a few seconds, one thread).
 *
 * @module
 */

import { quantizeMatrix } from "../lib/kernels/quant/codecs.ts";
import { createBackend } from "../lib/kernels/steps.ts";
import { compileKernels } from "../lib/kernels/wasm/kernels.ts";
import type { BlockStorageType } from "../lib/tensor/storage.ts";
import { sharedMemory64 } from "../lib/tensor/weights_memory.ts";

const MiB = 2 ** 20;

const weights = sharedMemory64(64 * MiB), state = sharedMemory64(64 * MiB);
const init = {
  weights,
  state,
  scratch: { byteOffset: 32 * MiB, byteLength: 32 * MiB },
  maxScores: MiB,
  maxCols: 4096,
};
const backends = {
  ts: createBackend("ts", { backend: "ts", ...init }),
  q8: createBackend("wasm", { backend: "wasm", ...init }),
  f32: createBackend("wasm", {
    backend: "wasm",
    ...init,
    module: compileKernels({ blockActivations: "f32" }),
  }),
};
const floats = new Float32Array(state.buffer);

/** Standard normal samples (Box–Muller over a fixed LCG). */
function gaussians(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

const rows = 1024, cols = 4096, tokens = 4;
const next = gaussians(1);
const x = Float32Array.from({ length: tokens * cols }, (_, i) => next() * (i % 512 === 7 ? 20 : 1));
floats.set(x, 0);
const OUT = { ts: 4 * MiB, q8: 8 * MiB, f32: 12 * MiB };

console.log(`rows ${rows}, cols ${cols}, ${tokens} tokens: ‖y − y_ref‖ / ‖y_ref‖`);
for (const type of ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"] as BlockStorageType[]) {
  const w = Float32Array.from({ length: rows * cols }, () => 0.02 * next());
  new Uint8Array(weights.buffer).set(quantizeMatrix(type, w), 0);
  const ref = { type, byteOffset: 0, rows, cols };
  for (const [name, b] of Object.entries(backends)) {
    b.matMul(ref, 0, OUT[name as keyof typeof OUT], rows, tokens, 0, rows);
  }
  const error = (at: number) => {
    let e = 0, s = 0;
    for (let i = 0; i < rows * tokens; i++) {
      const want = floats[OUT.ts / 4 + i];
      e += (floats[at / 4 + i] - want) ** 2;
      s += want ** 2;
    }
    return Math.sqrt(e / s);
  };
  const f32 = type === "q8_0" || type === "q4_0" ? error(OUT.f32).toExponential(2) : "-";
  console.log(`${type}: 8-bit activations ${error(OUT.q8).toExponential(2)}, float32 ${f32}`);
}
