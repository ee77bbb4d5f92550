/**
 * Chapter 11's worked examples: softmax without overflow, causal attention over three cached
 * positions, and the memory of the KV cache of Llama 3.1 8B at 8k and 128k positions (computed,
 * then asked of `RunState.allocate` itself).
 *
 * ```sh
 * deno run docs/examples/11_attention.ts
 * ```
 *
 * @module
 */

import { MappingError } from "../../lib/errors.ts";
import { attendHead } from "../../lib/kernels/attention.ts";
import { softmax } from "../../lib/kernels/softmax.ts";
import { parseModelConfig } from "../../lib/model/config.ts";
import { RunState } from "../../lib/model/run_state.ts";
import { PRESETS } from "../../lib/model/synthetic.ts";

const GiB = 2 ** 30;

// 1. Softmax of large scores: exp(1000) is Infinity in float64, Infinity / Infinity is NaN.
const scores = [1000, 999, 998];
const naiveSum = scores.reduce((sum, s) => sum + Math.exp(s), 0);
console.log("naive softmax: ", scores.map((s) => Math.exp(s) / naiveSum));
const stable = new Float64Array(scores);
softmax(stable, 0, stable.length);
console.log("softmax():     ", Array.from(stable, (p) => Number(p.toFixed(4))));

// 2. One head (headDim 2), three cached positions. The query of position p reads rows 0..p.
const keys = new Float32Array([1, 0, 0, 1, 1, 1]); // k0, k1, k2
const values = new Float32Array([10, 0, 0, 10, 5, 5]); // v0, v1, v2
const q = new Float32Array([2, 0]);
const out = new Float32Array(2);
for (let position = 0; position < 3; position++) {
  const weights = new Float64Array(3), sum = new Float64Array(2);
  attendHead(out, 0, q, 0, keys, values, 0, 2, 2, position + 1, weights, sum);
  const shown = Array.from(weights.subarray(0, position + 1), (w) => w.toFixed(3)).join(", ");
  console.log(
    `query at position ${position}: weights [${shown}] -> out [${out[0].toFixed(3)}, ${
      out[1].toFixed(3)
    }]`,
  );
}

// 3. The KV cache: per layer and position, one key row and one value row of kvDim floats.
const config = parseModelConfig(JSON.stringify(PRESETS["8b"].params), "8b preset");
const { nLayers, kvDim, nHeads, headDim } = config;
const perPosition = nLayers * 2 * kvDim * 4; // float32, as llama-bolts keeps it
console.log(
  `\n8B: ${nLayers} layers x (key + value) x kvDim ${kvDim} x 4 bytes = ` +
    `${perPosition / 1024} KiB per position`,
);
console.log("context   float32 (ours)   bf16    float32 without GQA (32 kv heads)");
for (const context of [8192, 131072]) {
  const f32 = (context * perPosition) / GiB;
  const mha = (context * nLayers * 2 * nHeads * headDim * 4) / GiB;
  console.log(
    `${String(context).padStart(7)}   ${f32.toFixed(1).padStart(9)} GiB   ` +
      `${(f32 / 2).toFixed(1).padStart(4)} GiB  ${mha.toFixed(1).padStart(6)} GiB`,
  );
}

// What the engine allocates: activations, logits, the KV cache and per-thread scratch in one
// shared 64-bit WebAssembly memory of at most 16 GiB. Pages are only backed once written.
for (const contextLength of [8192, 131072]) {
  try {
    const state = RunState.allocate({
      dim: config.dim,
      kvDim,
      hiddenDim: config.hiddenDim,
      nLayers,
      nHeads,
      vocabSize: config.vocabSize,
      contextLength,
      maxBatch: 128,
      threads: 2,
    });
    const cache = state.keyCache.reduce((n, b) => n + b.floats * 4, 0) * 2;
    console.log(
      `RunState at context ${contextLength}: ${
        (state.memory.buffer.byteLength / GiB).toFixed(2)
      } ` +
        `GiB of memory, ${(cache / GiB).toFixed(2)} GiB of it the KV cache`,
    );
  } catch (error) {
    if (!(error instanceof MappingError)) throw error;
    console.log(`RunState at context ${contextLength}: ${error.message}`);
  }
}
