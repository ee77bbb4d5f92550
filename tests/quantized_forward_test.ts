/**
 * The forward pass on ggml's block types, without GGUF: a golden model's matrices quantized in
 * memory (`helpers/quantized_model.ts`), run on both backends, against a float32 reference run
 * of the same model on the decoded weights (the TypeScript backend, itself checked against
 * PyTorch by `golden_test.ts`). The TypeScript backend decodes the blocks exactly, so its
 * logits match the reference to float32 rounding; the WebAssembly kernels quantize activations
 * to 8 bits per 32, so theirs move by the activations' rounding, which the tolerance below
 * allows for. A deliberately wrong nibble order in the Q4_0 weights must fail the comparison.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Checkpoint, loadCheckpoint } from "../lib/model/checkpoint.ts";
import { Transformer } from "../lib/model/transformer.ts";
import type { BlockStorageType } from "../lib/tensor/storage.ts";
import { assertBitwiseEqual } from "./helpers/bitwise.ts";
import { GOLDEN_DIR, loadGoldenCase } from "./helpers/golden.ts";
import { quantizedCheckpoint } from "./helpers/quantized_model.ts";

const CASE = "gqa_scaled";

/**
 * The WebAssembly kernels' largest logit difference from the reference, in standard deviations
 * of the logits. Measured on this model: 8-bit activations move the logits by 0.077–0.090
 * (as much as Q8_0's own weight rounding, 0.088; Q4_0's is 1.4, swapped nibbles 5.1), so the
 * bound is about 3× the measured effect, 20× below the negative control.
 */
const WASM_TOLERANCE = 0.25;

async function logits(checkpoint: Checkpoint, kernels: "ts" | "wasm", ids: number[]) {
  using model = await Transformer.create(checkpoint, { threads: 1, kernels, maxBatch: 64 });
  return await model.forwardAll(ids, 0);
}

/** max |a − b| over the standard deviation of `b`. */
function relativeMaxDiff(a: Float32Array, b: Float32Array): number {
  let max = 0, sum = 0, sum2 = 0;
  for (let i = 0; i < a.length; i++) {
    max = Math.max(max, Math.abs(a[i] - b[i]));
    sum += b[i];
    sum2 += b[i] * b[i];
  }
  const mean = sum / b.length;
  return max / Math.sqrt(sum2 / b.length - mean * mean);
}

/** Per position, the index of the largest logit. */
function argmaxes(all: Float32Array, vocab: number): number[] {
  const ids: number[] = [];
  for (let at = 0; at < all.length; at += vocab) {
    let best = at;
    for (let i = at; i < at + vocab; i++) if (all[i] > all[best]) best = i;
    ids.push(best - at);
  }
  return ids;
}

// Row lengths of the golden model (128, 448) are not multiples of 256, so only the 32-weight
// types apply here (llama.cpp falls back the same way: Q4_K → Q5_0, Q6_K → Q8_0).
for (const type of ["q8_0", "q4_0", "q5_0"] as BlockStorageType[]) {
  Deno.test(`forward pass on ${type} weights matches a float32 run on the decoded weights`, async () => {
    const golden = loadGoldenCase(CASE);
    using source = loadCheckpoint(`${GOLDEN_DIR}${CASE}`);
    const every = () => type;
    using quantized = quantizedCheckpoint(source, every);
    using decoded = quantizedCheckpoint(source, every, { decoded: true });
    const ids = golden.promptIds;
    const vocab = source.config.vocabSize;
    const reference = await logits(decoded, "ts", ids);
    const ts = await logits(quantized, "ts", ids);
    const wasm = await logits(quantized, "wasm", ids);
    assert.ok(relativeMaxDiff(ts, reference) < 1e-5, `ts: ${relativeMaxDiff(ts, reference)}`);
    const wasmDiff = relativeMaxDiff(wasm, reference);
    assert.ok(wasmDiff < WASM_TOLERANCE, `wasm: ${wasmDiff}`);
    assert.deepEqual(argmaxes(ts, vocab), argmaxes(reference, vocab));
    // The quantization itself moved the logits: the comparison is not against the floats.
    const floats = await logits(source, "ts", ids);
    assert.ok(relativeMaxDiff(reference, floats) > 1e-4);
  });
}

Deno.test("negative control: Q4_0 weights with swapped nibbles fail the comparison", async () => {
  const golden = loadGoldenCase(CASE);
  using source = loadCheckpoint(`${GOLDEN_DIR}${CASE}`);
  const every = () => "q4_0" as const;
  using decoded = quantizedCheckpoint(source, every, { decoded: true });
  using swapped = quantizedCheckpoint(source, every, {
    corrupt: (_name, _type, bytes) => {
      for (let at = 0; at < bytes.length; at += 18) {
        for (let k = at + 2; k < at + 18; k++) bytes[k] = ((bytes[k] & 15) << 4) | (bytes[k] >> 4);
      }
    },
  });
  const reference = await logits(decoded, "ts", golden.promptIds);
  for (const kernels of ["ts", "wasm"] as const) {
    const diff = relativeMaxDiff(await logits(swapped, kernels, golden.promptIds), reference);
    assert.ok(diff > 4 * WASM_TOLERANCE, `${kernels}: ${diff}`);
  }
});

// `forward` runs the last layer's queries, attention and feed-forward for the last token alone;
// `forwardAll` runs them for every token. On block weights the last token then goes through the
// one-token tiles instead of the prefill tiles, which must give the same bits.
for (const type of ["q8_0", "q4_0"] as BlockStorageType[]) {
  Deno.test(`${type}: forward's logits are forwardAll's last row, bit for bit`, async () => {
    const golden = loadGoldenCase(CASE);
    using source = loadCheckpoint(`${GOLDEN_DIR}${CASE}`);
    using quantized = quantizedCheckpoint(source, () => type);
    const ids = golden.promptIds.slice(0, 40), vocab = source.config.vocabSize;
    for (const maxBatch of [64, 7]) {
      using model = await Transformer.create(quantized, { threads: 2, maxBatch });
      const all = await model.forwardAll(ids, 0);
      const last = await model.forward(ids, 0);
      assertBitwiseEqual(last, all.subarray((ids.length - 1) * vocab), `maxBatch ${maxBatch}`);
    }
  });
}
