/**
 * Kernel tests: each kernel against a straightforward float64 reference written here, and the
 * 16-bit conversions against known IEEE bit patterns.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BF16_TO_F32, bf16ToF32 } from "../lib/kernels/bf16.ts";
import { F16_TO_F32, f16ToF32 } from "../lib/kernels/f16.ts";
import { matrixOf, matrixView, readRow } from "../lib/kernels/matrix.ts";
import { matVec } from "../lib/kernels/matvec.ts";
import { matMul, MATMUL_ROWS } from "../lib/kernels/matmul.ts";
import { rmsNorm } from "../lib/kernels/rmsnorm.ts";
import { rope, ropeFrequencies, ropeTable } from "../lib/kernels/rope.ts";
import { softmax } from "../lib/kernels/softmax.ts";
import { silu, swiGlu } from "../lib/kernels/silu.ts";
import { attend, attendHead } from "../lib/kernels/attention.ts";
import type { FloatStorageType } from "../lib/tensor/storage.ts";
import { loadGoldenCase } from "./helpers/golden.ts";

/** A deterministic pseudo-random stream in [-1, 1). */
function randoms(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/** Relative-or-absolute closeness. */
function assertClose(actual: number, expected: number, tol: number, what: string): void {
  const diff = Math.abs(actual - expected);
  assert.ok(
    diff <= tol * Math.max(1, Math.abs(expected)),
    `${what}: expected ${expected}, found ${actual} (diff ${diff})`,
  );
}

// Independent decoders, by the definitions of the formats.
function bf16Reference(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 7) & 0xff;
  const mantissa = bits & 0x7f;
  if (exponent === 0xff) return mantissa === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * mantissa * 2 ** (-126 - 7);
  return sign * (1 + mantissa / 128) * 2 ** (exponent - 127);
}

function f16Reference(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * mantissa * 2 ** (-14 - 10);
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

Deno.test("bf16: known bit patterns", () => {
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0xc000), -2);
  assert.equal(bf16ToF32(0x4049), 3.140625);
  assert.equal(bf16ToF32(0x7f80), Infinity);
  assert.equal(bf16ToF32(0xff80), -Infinity);
  assert.ok(Number.isNaN(bf16ToF32(0x7fc0)));
  assert.ok(Object.is(bf16ToF32(0x8000), -0));
  assert.equal(bf16ToF32(0x0001), 2 ** -133); // smallest subnormal
  assert.equal(bf16ToF32(0x007f), 127 * 2 ** -133); // largest subnormal
  assert.equal(bf16ToF32(0x0080), 2 ** -126); // smallest normal
  assert.equal(bf16ToF32(0x7f7f), (2 - 2 ** -7) * 2 ** 127); // largest finite
});

Deno.test("bf16: all 65536 patterns match the format's definition", () => {
  for (let bits = 0; bits < 65536; bits++) {
    const expected = bf16Reference(bits);
    const actual = BF16_TO_F32[bits];
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(actual), `0x${bits.toString(16)}`);
    else assert.ok(Object.is(actual, expected), `0x${bits.toString(16)}: ${actual}`);
  }
});

Deno.test("f16: known bit patterns", () => {
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0xc000), -2);
  assert.equal(f16ToF32(0x3555), 0.333251953125);
  assert.equal(f16ToF32(0x7bff), 65504); // largest finite
  assert.equal(f16ToF32(0x7c00), Infinity);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.ok(Number.isNaN(f16ToF32(0x7c01))); // signalling NaN stays NaN
  assert.ok(Object.is(f16ToF32(0x8000), -0));
  assert.equal(f16ToF32(0x0001), 2 ** -24); // smallest subnormal
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24); // largest subnormal
  assert.equal(f16ToF32(0x8001), -(2 ** -24));
  assert.equal(f16ToF32(0x0400), 2 ** -14); // smallest normal
});

Deno.test("f16: all 65536 patterns match the format's definition", () => {
  for (let bits = 0; bits < 65536; bits++) {
    const expected = f16Reference(bits);
    const actual = F16_TO_F32[bits];
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(actual), `0x${bits.toString(16)}`);
    else assert.ok(Object.is(actual, expected), `0x${bits.toString(16)}: ${actual}`);
  }
});

/** A random matrix stored as `dtype` in a buffer at `byteOffset`, plus its exact values. */
function randomMatrix(
  dtype: FloatStorageType,
  rows: number,
  cols: number,
  seed: number,
  byteOffset = 0,
) {
  const next = randoms(seed);
  const n = rows * cols;
  const buffer = new ArrayBuffer(byteOffset + n * 4);
  const values = new Float64Array(n);
  if (dtype === "f32") {
    const data = new Float32Array(buffer, byteOffset, n);
    for (let i = 0; i < n; i++) values[i] = data[i] = next();
  } else {
    const data = new Uint16Array(buffer, byteOffset, n);
    const decode = dtype === "bf16" ? bf16Reference : f16Reference;
    for (let i = 0; i < n; i++) {
      // A random finite value's 16-bit pattern: sign, a modest exponent, any mantissa.
      const f32 = new Float32Array([next()]);
      const bits = dtype === "bf16"
        ? new Uint32Array(f32.buffer)[0] >>> 16
        : (next() < 0 ? 0x8000 : 0) | ((10 + Math.floor((next() + 1) * 3)) << 10) |
          Math.floor((next() + 1) * 511);
      data[i] = bits;
      values[i] = decode(bits);
    }
  }
  return { m: matrixView(dtype, buffer, byteOffset, rows, cols), values };
}

function randomVector(n: number, seed: number): Float32Array {
  const next = randoms(seed);
  return Float32Array.from({ length: n }, () => next());
}

const LAYOUTS: Array<{ dtype: FloatStorageType; byteOffset: number; label: string }> = [
  { dtype: "f32", byteOffset: 0, label: "f32" },
  { dtype: "bf16", byteOffset: 0, label: "bf16 (pairs)" },
  { dtype: "bf16", byteOffset: 2, label: "bf16 (unaligned, one at a time)" },
  { dtype: "f16", byteOffset: 0, label: "f16 (pairs)" },
  { dtype: "f16", byteOffset: 6, label: "f16 (unaligned, one at a time)" },
];

Deno.test("matVec: every storage type against a float64 reference, on a row range", () => {
  const rows = 23, cols = 34;
  for (const { dtype, byteOffset, label } of LAYOUTS) {
    const { m, values } = randomMatrix(dtype, rows, cols, 7, byteOffset);
    assert.equal(m.pairs !== null, dtype !== "f32" && byteOffset % 4 === 0, label);
    const x = new Float32Array(cols + 3);
    x.set(randomVector(cols, 11), 3);
    const out = new Float32Array(rows + 2).fill(99);
    matVec(out, 2, m, x, 3, 5, 22); // rows [5, 22) only
    for (let r = 0; r < rows; r++) {
      if (r < 5 || r >= 22) {
        assert.equal(out[2 + r], 99, `${label}: row ${r} outside the range was written`);
        continue;
      }
      let expected = 0;
      for (let j = 0; j < cols; j++) expected += values[r * cols + j] * x[3 + j];
      assertClose(out[2 + r], expected, 1e-6, `${label} row ${r}`);
    }
  }
});

Deno.test("matMul: every storage type against a float64 reference, equal to matVec bit for bit", () => {
  const rows = 19, cols = 26, tokens = 5;
  for (const { dtype, byteOffset, label } of LAYOUTS) {
    const { m, values } = randomMatrix(dtype, rows, cols, 3, byteOffset);
    const x = randomVector(tokens * cols, 5);
    const stride = rows + 4;
    const out = new Float32Array(1 + tokens * stride).fill(99);
    matMul(out, 1, stride, m, x, 0, tokens, 2, 17, new Float32Array(MATMUL_ROWS * cols));
    const single = new Float32Array(rows);
    for (let t = 0; t < tokens; t++) {
      matVec(single, 0, m, x, t * cols, 0, rows);
      for (let r = 0; r < rows; r++) {
        const got = out[1 + t * stride + r];
        if (r < 2 || r >= 17) {
          assert.equal(got, 99, `${label}: token ${t} row ${r} outside the range was written`);
          continue;
        }
        let expected = 0;
        for (let j = 0; j < cols; j++) expected += values[r * cols + j] * x[t * cols + j];
        assertClose(got, expected, 1e-6, `${label} token ${t} row ${r}`);
        assert.ok(Object.is(got, single[r]), `${label}: matMul differs from matVec at ${t},${r}`);
      }
    }
  }
});

Deno.test("readRow and matrixOf widen one row exactly", () => {
  const { m, values } = randomMatrix("bf16", 4, 6, 9);
  const again = matrixOf("bf16", m.halves!, 4, 6);
  const out = new Float32Array(8);
  readRow(out, 2, again, 3);
  for (let j = 0; j < 6; j++) assert.equal(out[2 + j], values[18 + j]);
  assert.throws(() => matrixOf("f32", new Uint16Array(4), 2, 2), TypeError);
});

Deno.test("rmsNorm against a float64 reference", () => {
  const n = 37, eps = 1e-5;
  const x = randomVector(n + 1, 21), weight = randomVector(n, 22);
  const out = new Float32Array(n);
  rmsNorm(out, 0, x, 1, weight, n, eps);
  let ms = 0;
  for (let i = 0; i < n; i++) ms += x[1 + i] ** 2 / n;
  for (let i = 0; i < n; i++) {
    assertClose(out[i], (x[1 + i] / Math.sqrt(ms + eps)) * weight[i], 1e-6, `element ${i}`);
  }
});

Deno.test("ropeFrequencies match the PyTorch golden script's, scaled and unscaled", () => {
  for (const name of ["gqa_scaled", "llama3_unscaled"]) {
    const { meta } = loadGoldenCase(name);
    const p = meta.params;
    const freqs = ropeFrequencies(meta.derived.headDim, p.rope_theta, p.use_scaled_rope);
    assert.equal(freqs.length, meta.derived.ropeFrequencies.length);
    freqs.forEach((f, i) =>
      assertClose(f, meta.derived.ropeFrequencies[i], 1e-12, `${name} freq ${i}`)
    );
  }
});

Deno.test("ropeFrequencies: Llama 3.1 scaling keeps high, divides low, blends between", () => {
  const headDim = 128, theta = 500000;
  const plain = ropeFrequencies(headDim, theta, false);
  const scaled = ropeFrequencies(headDim, theta, true);
  for (let i = 0; i < headDim / 2; i++) {
    assertClose(plain[i], theta ** (-(2 * i) / headDim), 1e-12, `plain ${i}`);
    const wavelen = (2 * Math.PI) / plain[i];
    if (wavelen < 8192 / 4) assert.equal(scaled[i], plain[i]);
    else if (wavelen > 8192) assertClose(scaled[i], plain[i] / 8, 1e-12, `low ${i}`);
    else {
      assert.ok(scaled[i] < plain[i] && scaled[i] > plain[i] / 8, `blend ${i}`);
    }
  }
});

Deno.test("rope rotates interleaved pairs like a complex product", () => {
  const headDim = 8, heads = 3, position = 37;
  const table = ropeTable(headDim, 10000, false, 64);
  const freqs = ropeFrequencies(headDim, 10000, false);
  const v = randomVector(2 + heads * headDim, 31);
  const original = v.slice();
  rope(v, 2, heads, table, position);
  assert.equal(v[0], original[0]);
  assert.equal(v[1], original[1]);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < headDim / 2; i++) {
      const at = 2 + h * headDim + 2 * i;
      const angle = position * freqs[i];
      const [a, b] = [original[at], original[at + 1]];
      // (a + ib)(cos + i sin)
      assertClose(v[at], a * Math.cos(angle) - b * Math.sin(angle), 1e-6, `re ${h},${i}`);
      assertClose(v[at + 1], a * Math.sin(angle) + b * Math.cos(angle), 1e-6, `im ${h},${i}`);
    }
  }
});

Deno.test("softmax: sums to one, no overflow on large scores", () => {
  const x = new Float64Array([0, 1000, 1001, 1002, 7]);
  softmax(x, 1, 3);
  assert.equal(x[0], 0);
  assert.equal(x[4], 7);
  const denominator = 1 + Math.E + Math.E ** 2;
  assertClose(x[1], 1 / denominator, 1e-15, "p0");
  assertClose(x[2], Math.E / denominator, 1e-15, "p1");
  assertClose(x[3], Math.E ** 2 / denominator, 1e-15, "p2");
});

Deno.test("silu and swiGlu", () => {
  assert.equal(silu(0), 0);
  assertClose(silu(2), 2 / (1 + Math.exp(-2)), 1e-15, "silu(2)");
  assertClose(silu(-30), -30 * Math.exp(-30) / (1 + Math.exp(-30)), 1e-12, "silu(-30)");
  const gate = new Float32Array([1, -2, 3, 4]), up = new Float32Array([5, 6, 7, 8]);
  swiGlu(gate, up, 1, 3);
  assert.equal(gate[0], 1);
  assert.equal(gate[3], 4);
  assertClose(gate[1], (-2 / (1 + Math.exp(2))) * 6, 1e-6, "gate 1");
  assertClose(gate[2], (3 / (1 + Math.exp(-3))) * 7, 1e-6, "gate 2");
});

Deno.test("attendHead: causal attention over one kv head of a shared cache", () => {
  const headDim = 4, kvHeads = 2, kvDim = headDim * kvHeads, positions = 6;
  const keys = randomVector(positions * kvDim, 41), values = randomVector(positions * kvDim, 42);
  const q = randomVector(headDim + 1, 43);
  const out = new Float32Array(headDim + 2);
  const kvHead = 1, nPositions = 5; // attend to positions 0..4 only
  attendHead(
    out,
    2,
    q,
    1,
    keys,
    values,
    kvHead * headDim,
    kvDim,
    headDim,
    nPositions,
    new Float64Array(positions),
    new Float64Array(headDim),
  );
  const scores: number[] = [];
  for (let i = 0; i < nPositions; i++) {
    let dot = 0;
    for (let d = 0; d < headDim; d++) dot += q[1 + d] * keys[i * kvDim + kvHead * headDim + d];
    scores.push(dot / Math.sqrt(headDim));
  }
  const max = Math.max(...scores);
  const weights = scores.map((s) => Math.exp(s - max));
  const total = weights.reduce((a, b) => a + b, 0);
  for (let d = 0; d < headDim; d++) {
    let expected = 0;
    for (let i = 0; i < nPositions; i++) {
      expected += (weights[i] / total) * values[i * kvDim + kvHead * headDim + d];
    }
    assertClose(out[2 + d], expected, 1e-6, `dim ${d}`);
  }
  assert.equal(out[0], 0);
  assert.equal(out[1], 0);
});

/** Causal attention of one query head by the formula, in float64, softmax without blocking. */
function attentionReference(
  q: ArrayLike<number>,
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  cacheOffset: number,
  rowStride: number,
  headDim: number,
  nPositions: number,
): number[] {
  const scores: number[] = [];
  for (let i = 0; i < nPositions; i++) {
    let dot = 0;
    for (let d = 0; d < headDim; d++) dot += q[d] * keys[cacheOffset + i * rowStride + d];
    scores.push(dot / Math.sqrt(headDim));
  }
  const max = Math.max(...scores);
  const weights = scores.map((s) => Math.exp(s - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const out: number[] = [];
  for (let d = 0; d < headDim; d++) {
    let sum = 0;
    for (let i = 0; i < nPositions; i++) {
      sum += (weights[i] / total) * values[cacheOffset + i * rowStride + d];
    }
    out.push(sum);
  }
  return out;
}

Deno.test("attend: grouped query heads over a range of kv heads, causal", () => {
  // Group sizes 1..5 and 8 cover whole blocks of four query heads, short blocks and both;
  // odd and even position counts cover the row pairs; the range skips kv head 0.
  const headDim = 6, kvHeadsInCache = 4, kvDim = headDim * kvHeadsInCache, positions = 40;
  const keys = randomVector(positions * kvDim, 51), values = randomVector(positions * kvDim, 52);
  for (const kvGroup of [1, 2, 3, 4, 5, 8]) {
    for (const nPositions of [1, 2, 7, 33, 40]) {
      const kv0 = 1, kvHeads = 2, heads = kvHeads * kvGroup; // kv heads 1 and 2
      const q = randomVector(3 + heads * headDim, 53 + kvGroup);
      const out = new Float32Array(heads * headDim + 2);
      attend(
        out,
        1,
        q,
        3,
        keys,
        values,
        kv0 * headDim,
        kvDim,
        headDim,
        kvHeads,
        kvGroup,
        nPositions,
        new Float64Array(heads * nPositions),
        new Float64Array(heads * headDim),
      );
      for (let h = 0; h < heads; h++) {
        const kvHead = kv0 + Math.floor(h / kvGroup);
        const expected = attentionReference(
          q.subarray(3 + h * headDim),
          keys,
          values,
          kvHead * headDim,
          kvDim,
          headDim,
          nPositions,
        );
        for (let d = 0; d < headDim; d++) {
          const what = `group ${kvGroup}, ${nPositions} positions, head ${h}, dim ${d}`;
          assertClose(out[1 + h * headDim + d], expected[d], 1e-6, what);
        }
      }
      assert.equal(out[0], 0);
      assert.equal(out[out.length - 1], 0);
    }
  }
});

Deno.test("attend: any split of the kv heads gives the same bits as one call", () => {
  // What lets the ATTENTION job split heads between any number of threads.
  const headDim = 8, nKvHeads = 5, kvGroup = 3, kvDim = headDim * nKvHeads, nPositions = 37;
  const heads = nKvHeads * kvGroup;
  const keys = randomVector(nPositions * kvDim, 61), values = randomVector(nPositions * kvDim, 62);
  const q = randomVector(heads * headDim, 63);
  const scores = new Float64Array(heads * nPositions), sums = new Float64Array(heads * headDim);
  const run = (splits: number[]): Float32Array => {
    const out = new Float32Array(heads * headDim);
    for (let s = 0; s + 1 < splits.length; s++) {
      const kv0 = splits[s], offset = kv0 * kvGroup * headDim;
      attend(
        out,
        offset,
        q,
        offset,
        keys,
        values,
        kv0 * headDim,
        kvDim,
        headDim,
        splits[s + 1] - kv0,
        kvGroup,
        nPositions,
        scores,
        sums,
      );
    }
    return out;
  };
  const whole = run([0, nKvHeads]);
  assert.deepEqual(run([0, 2, nKvHeads]), whole);
  assert.deepEqual(run([0, 1, 2, 3, 4, nKvHeads]), whole);
});
