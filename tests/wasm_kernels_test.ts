/**
 * Each WebAssembly kernel against its TypeScript twin (the `ts` backend: `matvec.ts`,
 * `matmul.ts`, `attention.ts`, which sum in float64) on odd shapes: columns not a multiple of
 * the 8-column group, one row, rows not divisible by the tile, every token count up to two
 * tiles, attention heads in groups of 1 to 5. Tolerances are relative to `Σ |w · x|`, the
 * scale float32 rounding errors grow with. Also: the f16 widening against IEEE's definition
 * for every finite half, and the results' independence from row splits and batching.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { KernelBackend, MatrixRef } from "../lib/kernels/backend.ts";
import { F16_TO_F32 } from "../lib/kernels/f16.ts";
import { createBackend } from "../lib/kernels/steps.ts";
import { ropeTable } from "../lib/kernels/rope.ts";
import type { FloatStorageType } from "../lib/tensor/storage.ts";
import { sharedMemory64 } from "../lib/tensor/weights_memory.ts";

const MiB = 2 ** 20;

const weights = sharedMemory64(16 * MiB), state = sharedMemory64(16 * MiB);
const init = {
  weights,
  state,
  scratch: { byteOffset: 8 * MiB, byteLength: 8 * MiB },
  maxScores: MiB,
  maxCols: 4096,
};
const wasm = createBackend("wasm", { backend: "wasm", ...init });
const ts = createBackend("ts", { backend: "ts", ...init });
const floats = new Float32Array(state.buffer);

/** A deterministic stream in [-1, 1). */
function randoms(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1;
}

/** Random weights of `type` at byte 0 of the weights memory; returns their float values. */
function fillWeights(type: FloatStorageType, n: number, seed: number): Float64Array {
  const next = randoms(seed), values = new Float64Array(n);
  if (type === "f32") {
    const w = new Float32Array(weights.buffer, 0, n);
    for (let i = 0; i < n; i++) values[i] = w[i] = next();
  } else if (type === "bf16") {
    const w = new Uint16Array(weights.buffer, 0, n), one = new Float32Array(1);
    for (let i = 0; i < n; i++) {
      one[0] = next();
      w[i] = new Uint32Array(one.buffer)[0] >>> 16;
      values[i] = new Float32Array(Uint32Array.of(w[i] << 16).buffer)[0];
    }
  } else {
    const w = new Uint16Array(weights.buffer, 0, n);
    // Exponents over the whole normal and subnormal range of half, either sign.
    for (let i = 0; i < n; i++) {
      values[i] = F16_TO_F32[w[i] = Math.floor((next() + 1) * 0x3c00) ^ (i & 1 ? 0x8000 : 0)];
    }
  }
  return values;
}

const X = 0, OUT_WASM = 2 * MiB, OUT_TS = 4 * MiB, OUT_SPLIT = 6 * MiB;

function runMatMul(
  b: KernelBackend,
  w: MatrixRef,
  out: number,
  tokens: number,
  r0 = 0,
  r1 = w.rows,
) {
  b.matMul(w, X, out, w.rows, tokens, r0, r1);
}

/**
 * Runs `w` on both backends for `tokens` tokens of X and checks every output within `1e-6` of
 * `Σ |w · x|` (plus `floor`) of the twin's.
 */
function assertAgreesWithTwin(w: MatrixRef, values: Float64Array, tokens: number, floor: number) {
  const { rows, cols } = w;
  runMatMul(wasm, w, OUT_WASM, tokens);
  runMatMul(ts, w, OUT_TS, tokens);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rows; r++) {
      let scale = 0;
      for (let j = 0; j < cols; j++) {
        scale += Math.abs(values[r * cols + j] * floats[X / 4 + t * cols + j]);
      }
      const a = floats[OUT_WASM / 4 + t * rows + r], b = floats[OUT_TS / 4 + t * rows + r];
      assert.ok(
        Math.abs(a - b) <= 1e-6 * scale + floor,
        `${w.type} ${rows}×${cols}, ${tokens} tokens, out[${t}, ${r}]: wasm ${a}, ts ${b}`,
      );
    }
  }
}

for (const type of ["bf16", "f16", "f32"] as const) {
  Deno.test(`matmul_${type}: odd shapes agree with the TypeScript twin`, () => {
    const shapes = [[1, 1], [1, 8], [3, 7], [4, 9], [5, 16], [7, 13], [10, 37], [13, 64], [
      17,
      255,
    ]];
    for (const [rows, cols] of shapes) {
      const w = { type, byteOffset: 0, rows, cols };
      const values = fillWeights(type, rows * cols, rows * 31 + cols);
      for (const tokens of [1, 2, 3, 4, 5, 7]) {
        const next = randoms(tokens);
        for (let i = 0; i < tokens * cols; i++) floats[X / 4 + i] = next();
        assertAgreesWithTwin(w, values, tokens, 1e-30);
      }
    }
  });

  Deno.test(`matmul_${type}: a prefill of 37 tokens × 2052 columns agrees with the twin`, () => {
    // More inputs than L2 holds (300 KiB), and a tail of 4 columns.
    const rows = 5, cols = 2052, tokens = 37;
    const w = { type, byteOffset: 0, rows, cols };
    const values = fillWeights(type, rows * cols, 41);
    const next = randoms(42);
    for (let i = 0; i < tokens * cols; i++) floats[X / 4 + i] = next();
    assertAgreesWithTwin(w, values, tokens, 0);
  });

  Deno.test(`matmul_${type}: one token over row ranges of many tiles, the same bits as row by row`, () => {
    // Decode tiles take their rows from 8 runs of the range: runs of 4 and 5 rows, leftovers.
    const rows = 83, cols = 45;
    const w = { type, byteOffset: 0, rows, cols };
    fillWeights(type, rows * cols, 19);
    const next = randoms(20);
    for (let i = 0; i < cols; i++) floats[X / 4 + i] = next();
    for (let r = 0; r < rows; r++) runMatMul(wasm, w, OUT_TS, 1, r, r + 1);
    for (const [a, b] of [[0, 1], [1, 38], [38, 83]]) runMatMul(wasm, w, OUT_WASM, 1, a, b);
    assert.deepEqual(
      floats.subarray(OUT_WASM / 4, OUT_WASM / 4 + rows),
      floats.subarray(OUT_TS / 4, OUT_TS / 4 + rows),
    );
  });

  Deno.test(`matmul_${type}: any row split and any batch give the same bits`, () => {
    const rows = 23, cols = 45, tokens = 6;
    const w = { type, byteOffset: 0, rows, cols };
    fillWeights(type, rows * cols, 5);
    const next = randoms(9);
    for (let i = 0; i < tokens * cols; i++) floats[X / 4 + i] = next();
    runMatMul(wasm, w, OUT_WASM, tokens);
    for (const [a, b] of [[0, 1], [1, 8], [8, 23]]) runMatMul(wasm, w, OUT_SPLIT, tokens, a, b);
    assert.deepEqual(
      floats.subarray(OUT_SPLIT / 4, OUT_SPLIT / 4 + rows * tokens),
      floats.subarray(OUT_WASM / 4, OUT_WASM / 4 + rows * tokens),
    );
    for (let t = 0; t < tokens; t++) {
      wasm.matMul(w, X + 4 * t * cols, OUT_SPLIT + 4 * t * rows, rows, 1, 0, rows);
    }
    assert.deepEqual(
      floats.subarray(OUT_SPLIT / 4, OUT_SPLIT / 4 + rows * tokens),
      floats.subarray(OUT_WASM / 4, OUT_WASM / 4 + rows * tokens),
    );
  });
}

Deno.test("matmul_f16 widens every finite half exactly as IEEE 754 defines it", () => {
  // Row r holds the halves 8r .. 8r + 7; x = e_j picks column j, so out[r] is one half widened.
  const halves = new Uint16Array(weights.buffer, 0, 65536);
  for (let i = 0; i < 65536; i++) halves[i] = i;
  const w = { type: "f16", byteOffset: 0, rows: 8192, cols: 8 } as const;
  let checked = 0;
  for (let j = 0; j < 8; j++) {
    for (let k = 0; k < 8; k++) floats[X / 4 + k] = k === j ? 1 : 0;
    runMatMul(wasm, w, OUT_WASM, 1);
    for (let r = 0; r < 8192; r++) {
      const bits = 8 * r + j;
      const row = halves.subarray(8 * r, 8 * r + 8);
      // Rows holding an infinity or NaN give NaN or infinite sums whatever the widening.
      if (row.some((h) => (h & 0x7c00) === 0x7c00)) continue;
      const expected = F16_TO_F32[bits] === 0 ? 0 : F16_TO_F32[bits]; // -0 · 1 + 0s sums to +0
      assert.equal(floats[OUT_WASM / 4 + r], expected, `half 0x${bits.toString(16)}`);
      checked++;
    }
  }
  assert.equal(checked, 65536 - 2 * 1024);
});

Deno.test("attention: grouped heads, odd position counts and head sizes agree with the twin", () => {
  const KEYS = MiB, VALUES = 2 * MiB, Q = 3 * MiB, OUT_A = 4 * MiB, OUT_B = 5 * MiB;
  const cases = [
    { headDim: 8, kvHeads: 1, group: 1, positions: 1 },
    { headDim: 16, kvHeads: 2, group: 3, positions: 5 },
    { headDim: 64, kvHeads: 3, group: 4, positions: 37 },
    { headDim: 128, kvHeads: 2, group: 5, positions: 130 },
    { headDim: 64, kvHeads: 1, group: 8, positions: 257 },
  ];
  for (const c of cases) {
    const kvDim = c.kvHeads * c.headDim, nHeads = c.kvHeads * c.group;
    const next = randoms(c.positions);
    for (let i = 0; i < c.positions * kvDim; i++) {
      floats[KEYS / 4 + i] = 2 * next();
      floats[VALUES / 4 + i] = next();
    }
    for (let i = 0; i < nHeads * c.headDim; i++) floats[Q / 4 + i] = 2 * next();
    for (const [b, out] of [[wasm, OUT_A], [ts, OUT_B]] as const) {
      b.attention(Q, out, KEYS, VALUES, kvDim, c.headDim, c.kvHeads, c.group, c.positions);
    }
    for (let i = 0; i < nHeads * c.headDim; i++) {
      const a = floats[OUT_A / 4 + i], b = floats[OUT_B / 4 + i];
      assert.ok(Math.abs(a - b) <= 2e-6, `${JSON.stringify(c)} out[${i}]: wasm ${a}, ts ${b}`);
    }
  }
});

Deno.test("swiGlu: every token's row range, extreme gates included, agrees with the twin", () => {
  const GATE_A = MiB, GATE_B = 2 * MiB, UP = 3 * MiB;
  const rowFloats = 70, tokens = 3;
  const extremes = [0, -0, 1e-30, -1e-30, 20, -20, 87, -87, 88.5, -88.5, 100, -100, 1e4, -1e4];
  const next = randoms(5);
  for (let i = 0; i < rowFloats * tokens; i++) {
    floats[GATE_A / 4 + i] = i < extremes.length ? extremes[i] : 12 * next();
    floats[UP / 4 + i] = 3 * next();
  }
  floats.copyWithin(GATE_B / 4, GATE_A / 4, GATE_A / 4 + rowFloats * tokens);
  // [3, 66): 63 elements, so the WebAssembly part (60) leaves three to the TypeScript tail.
  const start = 3, end = 66;
  wasm.swiGlu(GATE_A, UP, rowFloats, tokens, start, end);
  ts.swiGlu(GATE_B, UP, rowFloats, tokens, start, end);
  for (let i = 0; i < rowFloats * tokens; i++) {
    const a = floats[GATE_A / 4 + i], b = floats[GATE_B / 4 + i];
    // Within a few float32 steps of the twin's (Math.exp in float64): e^x to 2 ulp, one division
    // and one multiplication rounded; below g = −88 the kernel gives 0 (|silu| < 6e-37 there).
    const limit = 4 * 2 ** -23 * Math.abs(b) + 1e-36;
    assert.ok(Math.abs(a - b) <= limit, `gate[${i}] ${floats[UP / 4 + i]}: wasm ${a}, ts ${b}`);
  }
  // Outside [start, end) nothing moved.
  const g = floats[GATE_A / 4 + rowFloats + 1];
  assert.equal(g, floats[GATE_B / 4 + rowFloats + 1]);
});

Deno.test("rmsNorm: with and without the residual add, in place too, agrees with the twin", () => {
  const X_A = MiB, X_B = 2 * MiB, RESIDUAL = 3 * MiB, OUT_A = 4 * MiB, OUT_B = 5 * MiB;
  const WEIGHT = 6 * MiB;
  const next = randoms(11);
  // n = 68 runs in WebAssembly; n = 70 (not a multiple of 4) falls back to TypeScript.
  for (const n of [68, 70]) {
    for (const residual of [RESIDUAL, undefined]) {
      for (const inPlace of [false, true]) {
        const tokens = 3;
        for (let i = 0; i < n * tokens; i++) {
          // Rows of very different sizes: the scale must come from each row's own sum.
          floats[X_A / 4 + i] = next() * 10 ** (Math.floor(i / n) - 1);
          floats[RESIDUAL / 4 + i] = next();
        }
        for (let i = 0; i < n; i++) floats[WEIGHT / 4 + i] = 1 + next();
        floats.copyWithin(X_B / 4, X_A / 4, X_A / 4 + n * tokens);
        const [outA, outB] = inPlace ? [X_A, X_B] : [OUT_A, OUT_B];
        wasm.rmsNorm(X_A, residual, outA, WEIGHT, n, tokens, 1e-5);
        ts.rmsNorm(X_B, residual, outB, WEIGHT, n, tokens, 1e-5);
        for (let i = 0; i < n * tokens; i++) {
          const a = floats[outA / 4 + i], b = floats[outB / 4 + i];
          // The twin's float64 arithmetic, but the sum of squares in another order: an ulp at most.
          const limit = 2 ** -23 * Math.abs(b);
          const where = `n ${n}, residual ${residual !== undefined}, in place ${inPlace}, [${i}]`;
          assert.ok(Math.abs(a - b) <= limit, `${where}: wasm ${a}, ts ${b}`);
          if (!inPlace) assert.equal(floats[X_A / 4 + i], floats[X_B / 4 + i], `${where}: x`);
        }
      }
    }
  }
});

Deno.test("rope: both pair layouts, several head sizes and positions, the twin's bits", () => {
  const V_A = MiB, V_B = 2 * MiB, COS = 3 * MiB, SIN = 4 * MiB;
  const next = randoms(13);
  for (const headDim of [8, 16, 64, 128]) {
    const pairs = headDim / 2, positions = 40;
    const table = ropeTable(headDim, 500000, true, positions);
    floats.set(table.cos, COS / 4);
    floats.set(table.sin, SIN / 4);
    for (const halves of [false, true]) {
      const heads = 3, rowFloats = heads * headDim + 4, tokens = 5, position = 33;
      for (let i = 0; i < rowFloats * tokens; i++) floats[V_A / 4 + i] = 4 * next();
      floats.copyWithin(V_B / 4, V_A / 4, V_A / 4 + rowFloats * tokens);
      const before = floats.slice(V_A / 4, V_A / 4 + rowFloats * tokens);
      wasm.rope(V_A, rowFloats, heads, headDim, tokens, position, COS, SIN, halves);
      ts.rope(V_B, rowFloats, heads, headDim, tokens, position, COS, SIN, halves);
      for (let i = 0; i < rowFloats * tokens; i++) {
        const where = `headDim ${headDim}, halves ${halves}, [${i}]`;
        assert.equal(floats[V_A / 4 + i], floats[V_B / 4 + i], where);
      }
      // The 4 floats after each row's heads are not touched; the heads moved.
      let moved = 0;
      for (let t = 0; t < tokens; t++) {
        for (let i = 0; i < rowFloats; i++) {
          const at = t * rowFloats + i, now = floats[V_A / 4 + at];
          if (i >= heads * headDim) assert.equal(now, before[at], `headDim ${headDim}: tail`);
          else if (now !== before[at]) moved++;
        }
      }
      assert.ok(moved > tokens * heads * pairs, `headDim ${headDim}: only ${moved} moved`);
    }
  }
});
