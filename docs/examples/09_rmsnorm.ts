/**
 * Chapter 9's worked example: RMSNorm on the demo model's real tensors. Reads the embedding row
 * of a token and layer 0's `attention_norm.weight`, normalizes with `rmsNorm` (what the forward
 * pass calls), and checks it against a float64 computation of Meta's formula; then shows that
 * scaling the input changes nothing, and what `eps` does for a zero vector.
 *
 * ```sh
 * LLAMA_MODEL=~/.cache/llama-bolts/demo-tiny \
 *   deno run --allow-read --allow-env --allow-ffi docs/examples/09_rmsnorm.ts
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { rmsNorm } from "../../lib/kernels/rmsnorm.ts";
import { TS_MATRIX_KERNELS } from "../../lib/kernels/ts_backend.ts";
import { loadCheckpoint, matrixOfTensor, tensorFloats } from "../../lib/model/checkpoint.ts";
import { Tokenizer } from "../../lib/tokenizer/tokenizer.ts";

const dir = Deno.env.get("LLAMA_MODEL");
if (!dir) {
  console.error("set LLAMA_MODEL to a model folder, e.g. ~/.cache/llama-bolts/demo-tiny");
  Deno.exit(2);
}
using checkpoint = loadCheckpoint(dir);
const { dim, normEps } = checkpoint.config;
const token = Tokenizer.load(join(dir, "tokenizer.model")).encode(" hello")[0];

// x = the embedding row of the token, widened from bf16 as the forward pass does.
const ref = matrixOfTensor(checkpoint.tensor("tok_embeddings.weight"));
const kernels = TS_MATRIX_KERNELS[ref.type];
const x = new Float32Array(dim);
kernels.readRow(kernels.view(checkpoint.weights.buffer, ref), token, x, 0);
const weight = tensorFloats(checkpoint, "layers.0.attention_norm.weight");

const rms = (v: ArrayLike<number>) => {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  return Math.sqrt(sum / v.length);
};
const fmt = (v: ArrayLike<number>) =>
  `[${Array.from(v).slice(0, 4).map((f) => f.toFixed(4)).join(", ")}, …]`;

const out = new Float32Array(dim);
rmsNorm(out, 0, x, 0, weight, dim, normEps);
// Meta's RMSNorm: x * rsqrt(mean(x²) + eps) * weight, here all in float64.
let maxError = 0;
const scale = 1 / Math.sqrt(rms(x) ** 2 + normEps);
for (let i = 0; i < dim; i++) {
  maxError = Math.max(maxError, Math.abs(out[i] - x[i] * scale * weight[i]));
}
const unitWeights = new Float32Array(dim).fill(1);
const unit = new Float32Array(dim);
rmsNorm(unit, 0, x, 0, unitWeights, dim, normEps);

console.log(`token ${token} (" hello"), dim ${dim}, eps ${normEps}`);
console.log(`  x = embedding row        ${fmt(x)}  RMS ${rms(x).toFixed(5)}`);
console.log(`  x / RMS(x)               ${fmt(unit)}  RMS ${rms(unit).toFixed(5)}`);
console.log(
  `  attention_norm.weight    ${fmt(weight)}  mean ${
    (weight.reduce((a, b) => a + b) / dim).toFixed(4)
  }`,
);
console.log(`  rmsNorm(x) · weight      ${fmt(out)}`);
console.log(`  largest difference from float64 Meta formula: ${maxError.toExponential(2)}`);

const scaled = x.map((v) => 1000 * v);
const outScaled = new Float32Array(dim);
rmsNorm(outScaled, 0, scaled, 0, weight, dim, normEps);
let maxScaled = 0;
for (let i = 0; i < dim; i++) maxScaled = Math.max(maxScaled, Math.abs(outScaled[i] - out[i]));
console.log(
  `\n  1000 · x normalizes to nearly the same vector (eps weighs less): largest difference ${
    maxScaled.toExponential(2)
  }`,
);

const zero = new Float32Array(dim), outZero = new Float32Array(dim);
rmsNorm(outZero, 0, zero, 0, weight, dim, normEps);
const tiny = new Float32Array(dim).fill(1e-4), outTiny = new Float32Array(dim);
rmsNorm(outTiny, 0, tiny, 0, unitWeights, dim, normEps);
console.log(`  a zero vector stays zero (no division by zero): ${fmt(outZero)}`);
console.log(
  `  x = 1e-4 everywhere: RMS ${rms(tiny).toExponential(1)} is below sqrt(eps) = ${
    Math.sqrt(normEps).toExponential(2)
  }: eps dominates and the output is ${outTiny[0].toFixed(4)}, not 1`,
);
