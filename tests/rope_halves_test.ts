/**
 * Hugging Face's RoPE layout: {@linkcode ropeHalves} on rows permuted as transformers'
 * `convert_llama_weights_to_hf.py` permutes them must give Meta's rotation of the unpermuted
 * rows, permuted the same way; and the frequency table, built from config.json's
 * `rope_scaling`, must equal the one the fixture script computed with transformers' formula.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseHuggingFaceConfig } from "../lib/model/hf_config.ts";
import {
  LLAMA31_ROPE_SCALING,
  rope,
  ropeFrequencies,
  ropeHalves,
  ropeTable,
} from "../lib/kernels/rope.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/hf/", import.meta.url));

/** Within each head, element 2i goes to i and 2i + 1 to i + headDim/2 (the HF permutation). */
function toHalves(v: Float32Array, heads: number, headDim: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < headDim / 2; i++) {
      out[h * headDim + i] = v[h * headDim + 2 * i];
      out[h * headDim + headDim / 2 + i] = v[h * headDim + 2 * i + 1];
    }
  }
  return out;
}

Deno.test("rope halves: rotating halves of permuted rows is Meta's rotation, permuted", () => {
  const heads = 3, headDim = 16;
  const table = ropeTable(headDim, 500000, true, 300);
  let seed = 1;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647 - 0.5;
  for (const position of [0, 1, 17, 299]) {
    const v = Float32Array.from({ length: 2 + heads * headDim }, random);
    const halves = new Float32Array(v.length);
    halves.set(v.subarray(0, 2));
    halves.set(toHalves(v.subarray(2), heads, headDim), 2);
    rope(v, 2, heads, table, position);
    ropeHalves(halves, 2, heads, table, position);
    assert.deepEqual(halves.subarray(0, 2), v.subarray(0, 2)); // outside the heads: untouched
    // Same float operations on the same pairs: bit-identical.
    assert.deepEqual(halves.subarray(2), toHalves(v.subarray(2), heads, headDim), `p ${position}`);
  }
});

Deno.test("rope halves: frequencies from config.json's rope_scaling match transformers' formula", () => {
  for (const name of ["tied", "sharded_untied", "scaling32_f32"]) {
    const path = join(FIXTURES, name, "hf", "config.json");
    const config = parseHuggingFaceConfig(Deno.readTextFileSync(path), path);
    const golden = JSON.parse(Deno.readTextFileSync(join(FIXTURES, name, "golden.json")));
    const freqs = ropeFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
    assert.equal(freqs.length, golden.ropeFrequencies.length);
    freqs.forEach((f, i) => {
      const want = golden.ropeFrequencies[i];
      assert.ok(Math.abs(f - want) <= 1e-15 * Math.abs(want), `${name} pair ${i}: ${f} ${want}`);
    });
  }
  // `true` still means Meta's constants.
  assert.deepEqual(
    ropeFrequencies(64, 500000, true),
    ropeFrequencies(64, 500000, LLAMA31_ROPE_SCALING),
  );
  assert.notDeepEqual(
    ropeFrequencies(64, 500000, { ...LLAMA31_ROPE_SCALING, factor: 32 }),
    ropeFrequencies(64, 500000, true),
  );
});
