/**
 * The WebAssembly kernels of ggml's block types against their TypeScript twin (the `ts`
 * backend: each row decoded by the reference decoder, dotted in float64) on odd shapes: one
 * row, rows not divisible by the tiles, an odd number of blocks per row, every token count up
 * to three prefill tiles. The WebAssembly kernels quantize the activations to 8 bits per block
 * of 32, so the tolerance is derived from that rounding: each activation moves by at most half
 * a step `dx / 2` (`dx = max |x| / 127` over its block), so a dot product moves by at most
 * `Σ_blocks dx / 2 · Σ_j |w_j|`, plus float32 rounding (`1e-5 · Σ |w · x|`). Also: results do
 * not depend on the row split or on batching, and a wrong nibble order in the weights fails.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { KernelBackend, MatrixRef } from "../lib/kernels/backend.ts";
import { dequantizeBlocks, quantizeMatrix } from "../lib/kernels/quant/codecs.ts";
import { createBackend } from "../lib/kernels/steps.ts";
import { DecodeRowsPicker } from "../lib/kernels/wasm/decode_rows.ts";
import { dotAddIsUnsigned } from "../lib/kernels/wasm/dot_add_probe.ts";
import { compileKernels } from "../lib/kernels/wasm/kernels.ts";
import { type BlockStorageType, STORAGE, storageBytes } from "../lib/tensor/storage.ts";
import { sharedMemory64 } from "../lib/tensor/weights_memory.ts";

const MiB = 2 ** 20;

const weights = sharedMemory64(8 * MiB), state = sharedMemory64(16 * MiB);
const init = {
  weights,
  state,
  scratch: { byteOffset: 8 * MiB, byteLength: 8 * MiB },
  maxScores: MiB,
  maxCols: 4096,
};
const wasm = createBackend("wasm", { backend: "wasm", ...init });
// Without relaxed SIMD: the 7-bit dot product done in 16-bit lanes.
const plain = createBackend("wasm", {
  backend: "wasm",
  ...init,
  module: compileKernels({ fma: false }),
});
// The 8-bit dot products with accumulation (one instruction with AVX-VNNI) and without,
// whichever of the two this machine's default is; neither with the unsigned reading below.
const dotAdd = createBackend("wasm", {
  backend: "wasm",
  ...init,
  module: compileKernels({ dotAdd: true, unsignedDotAdd: false }),
});
const noDotAdd = createBackend("wasm", {
  backend: "wasm",
  ...init,
  module: compileKernels({ dotAdd: false, unsignedDotAdd: false }),
});
// The unsigned reading of the dot product, where it reads bytes so (AVX-VNNI): Q8_0's biased
// weights, the interleaved Q4_0 and Q8_0 prefill tiles, Q4_K's unshifted high nibbles.
const unsignedReading = dotAddIsUnsigned()
  ? [
    createBackend("wasm", {
      backend: "wasm",
      ...init,
      module: compileKernels({ unsignedDotAdd: true }),
    }),
  ]
  : [];
// One token in the plan's multi-row tiles, or in 1-row tiles (the default times both).
const multiRow = createBackend("wasm", { backend: "wasm", ...init, oneRowDecode: false });
const oneRow = createBackend("wasm", { backend: "wasm", ...init, oneRowDecode: true });
const ts = createBackend("ts", { backend: "ts", ...init });
const floats = new Float32Array(state.buffer);
const TYPES: BlockStorageType[] = ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];

/** A deterministic stream in [-1, 1). */
function randoms(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1;
}

/** Weights quantized from Gaussian-like floats with outliers; returns their decoded values. */
function fillWeights(type: BlockStorageType, rows: number, cols: number, seed: number, scale = 1) {
  const next = randoms(seed);
  const x = Float32Array.from(
    { length: rows * cols },
    () => scale * 0.05 * (next() + next() + next()),
  );
  for (let i = 0; i < x.length; i += 61) x[i] *= 6;
  const bytes = quantizeMatrix(type, x);
  new Uint8Array(weights.buffer).set(bytes, 0);
  return dequantizeBlocks(type, bytes);
}

const X = 0, OUT_WASM = 2 * MiB, OUT_TS = 4 * MiB, OUT_SPLIT = 6 * MiB;

function fillX(n: number, seed: number): void {
  const next = randoms(seed);
  for (let i = 0; i < n; i++) floats[X / 4 + i] = next() * (i % 37 === 0 ? 8 : 1);
}

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
 * The largest error the 8-bit activations allow for out[t, r], plus float32 rounding. The
 * activations share one `dx` per `group` elements: 32 for Q8_0, Q4_0, Q5_0, the 256 of a
 * super-block for the K-quants (as llama.cpp's Q8_K).
 */
function bound(w: Float32Array, cols: number, r: number, t: number, group: number): number {
  let total = 0, scale = 0;
  for (let b = 0; b < cols; b += group) {
    let amax = 0, wsum = 0;
    for (let j = b; j < b + group; j++) {
      amax = Math.max(amax, Math.abs(floats[X / 4 + t * cols + j]));
      wsum += Math.abs(w[r * cols + j]);
      scale += Math.abs(w[r * cols + j] * floats[X / 4 + t * cols + j]);
    }
    total += (amax / 127 / 2) * wsum;
  }
  return total + 1e-5 * scale;
}

for (const type of TYPES) {
  const block = STORAGE[type].blockElements;
  Deno.test(`matmul_${type}: odd shapes agree with the TypeScript twin within the activations' rounding`, () => {
    let worst = 0;
    for (const blocks of block === 32 ? [1, 3, 9] : [1, 3]) {
      const cols = blocks * block;
      for (const rows of [1, 5, 13]) {
        const w = fillWeights(type, rows, cols, rows * 31 + cols);
        const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
        for (const tokens of [1, 2, 3, 4, 7]) {
          fillX(tokens * cols, tokens + cols);
          runMatMul(ts, ref, OUT_TS, tokens);
          for (const backend of [wasm, plain, dotAdd, noDotAdd, ...unsignedReading]) {
            runMatMul(backend, ref, OUT_WASM, tokens);
            for (let t = 0; t < tokens; t++) {
              for (let r = 0; r < rows; r++) {
                const i = t * rows + r;
                const got = floats[OUT_WASM / 4 + i], want = floats[OUT_TS / 4 + i];
                const limit = bound(w, cols, r, t, block);
                worst = Math.max(worst, Math.abs(got - want) / limit);
                assert.ok(
                  Math.abs(got - want) <= limit,
                  `${type} ${rows}×${cols}, ${tokens} tokens, [${t}, ${r}]: ${got} vs ${want} (±${limit})`,
                );
              }
            }
          }
        }
      }
    }
    // The bound is not vacuous: typical errors use a fair part of it.
    assert.ok(worst > 0.01, `${type}: worst error ${worst} of the bound`);
  });

  Deno.test(`matmul_${type}: more tokens than one span of activations agree with the twin`, () => {
    // 2048 columns: 8 KiB of records per token, so 37 tokens take two spans (32 + 5).
    const cols = 2048, rows = 5, tokens = 37;
    const w = fillWeights(type, rows, cols, 77);
    const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
    fillX(tokens * cols, 78);
    runMatMul(ts, ref, OUT_TS, tokens);
    runMatMul(wasm, ref, OUT_WASM, tokens);
    for (let t = 0; t < tokens; t++) {
      for (let r = 0; r < rows; r++) {
        const got = floats[OUT_WASM / 4 + t * rows + r], want = floats[OUT_TS / 4 + t * rows + r];
        assert.ok(
          Math.abs(got - want) <= bound(w, cols, r, t, STORAGE[type].blockElements),
          `${type} [${t}, ${r}]: ${got} vs ${want}`,
        );
      }
    }
  });

  Deno.test(`matmul_${type}: any row split and any batch give the same bits`, () => {
    const cols = 3 * block, rows = 11, tokens = 5;
    fillWeights(type, rows, cols, 5);
    fillX(tokens * cols, 9);
    const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
    runMatMul(wasm, ref, OUT_WASM, tokens);
    for (const [r0, r1] of [[0, 3], [3, 4], [4, 11]]) {
      runMatMul(wasm, ref, OUT_SPLIT, tokens, r0, r1);
    }
    const whole = floats.slice(OUT_WASM / 4, OUT_WASM / 4 + rows * tokens);
    assert.deepEqual(floats.slice(OUT_SPLIT / 4, OUT_SPLIT / 4 + rows * tokens), whole);
    // Token by token (decode tiles) as in one batch (prefill tiles).
    for (let t = 0; t < tokens; t++) {
      wasm.matMul(ref, X + 4 * t * cols, OUT_SPLIT + 4 * t * rows, rows, 1, 0, rows);
    }
    assert.deepEqual(floats.slice(OUT_SPLIT / 4, OUT_SPLIT / 4 + rows * tokens), whole);
  });
}

Deno.test("one token over row ranges of many tiles: the same bits as one row at a time", () => {
  // A decode tile takes its rows from 8 runs of the range: ranges of 37 and 45 rows from odd
  // starts make runs of 4 and 5 rows, with 5 rows left over for 1-row tiles. The 1-row form,
  // and the default that times both forms call by call, must give the same bits.
  for (const type of TYPES) {
    const rows = 83, cols = STORAGE[type].blockElements * 2;
    fillWeights(type, rows, cols, 17);
    fillX(cols, 18);
    const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
    for (let r = 0; r < rows; r++) runMatMul(multiRow, ref, OUT_TS, 1, r, r + 1);
    for (const backend of [multiRow, oneRow, wasm, wasm]) {
      for (const [r0, r1] of [[0, 1], [1, 38], [38, 83]]) {
        runMatMul(backend, ref, OUT_WASM, 1, r0, r1);
      }
      assert.deepEqual(
        floats.slice(OUT_WASM / 4, OUT_WASM / 4 + rows),
        floats.slice(OUT_TS / 4, OUT_TS / 4 + rows),
        type,
      );
    }
  }
});

Deno.test("blocks whose float16 scales are subnormal agree with the twin", () => {
  // Weights ~1e-4: every d (and dmin) below 2^-14, as K-quant scales of real weights often are.
  for (const type of TYPES) {
    const rows = 5, cols = 512, tokens = 2;
    const w = fillWeights(type, rows, cols, 61, 2e-3);
    const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
    const bytes = new Uint8Array(weights.buffer, 0, STORAGE[type].blockBytes);
    const d = bytes[type === "q6_k" ? 208 : 0] | (bytes[type === "q6_k" ? 209 : 1] << 8);
    assert.equal((d >> 10) & 31, 0, `${type}: expected a subnormal d, found ${d.toString(16)}`);
    fillX(tokens * cols, 62);
    runMatMul(ts, ref, OUT_TS, tokens);
    // Prefill tiles (two tokens), then decode tiles of several rows and of one (first token).
    for (const [backend, n] of [[wasm, tokens], [multiRow, 1], [oneRow, 1]] as const) {
      runMatMul(backend, ref, OUT_WASM, n);
      for (let i = 0; i < rows * n; i++) {
        const [t, r] = [Math.floor(i / rows), i % rows];
        const got = floats[OUT_WASM / 4 + i], want = floats[OUT_TS / 4 + i];
        const limit = bound(w, cols, r, t, STORAGE[type].blockElements);
        assert.ok(Math.abs(got - want) <= limit, `${type} [${t}, ${r}]: ${got} vs ${want}`);
        assert.ok(Math.abs(want) > 0);
      }
    }
  }
});

Deno.test("matmul_q4_0 and matmul_q4_k: weights with swapped nibbles give other results", () => {
  for (const type of ["q4_0", "q4_k"] as const) {
    const cols = 2 * STORAGE[type].blockElements, rows = 4;
    fillWeights(type, rows, cols, 77);
    fillX(cols, 78);
    const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
    runMatMul(wasm, ref, OUT_WASM, 1);
    const bytes = new Uint8Array(weights.buffer, 0, rows * storageBytes(type, cols));
    const [start, end] = type === "q4_0" ? [2, 18] : [16, 144];
    for (let at = 0; at < bytes.length; at += STORAGE[type].blockBytes) {
      for (let k = at + start; k < at + end; k++) {
        bytes[k] = ((bytes[k] & 15) << 4) | (bytes[k] >> 4);
      }
    }
    runMatMul(ts, ref, OUT_TS, 1);
    let differs = 0;
    for (let r = 0; r < rows; r++) {
      if (
        Math.abs(floats[OUT_WASM / 4 + r] - floats[OUT_TS / 4 + r]) >
          bound(dequantizeBlocks(type, bytes), cols, r, 0, STORAGE[type].blockElements)
      ) differs++;
    }
    assert.ok(differs > 0, type);
  }
});

Deno.test("within a job, products with the same input reuse its quantized records; a new job quantizes again", () => {
  const job = createBackend("wasm", { backend: "wasm", ...init });
  for (const type of ["q4_0", "q4_k"] as const) {
    const rows = 9, cols = 512, tokens = 3;
    fillWeights(type, rows, cols, 3);
    const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
    fillX(tokens * cols, 4);
    runMatMul(wasm, ref, OUT_TS, tokens); // a fresh quantization every call
    job.newJob!();
    runMatMul(job, ref, OUT_WASM, tokens, 0, 4);
    runMatMul(job, ref, OUT_WASM, tokens, 4, rows); // reuses the records of the first call
    const expect = floats.slice(OUT_TS / 4, OUT_TS / 4 + rows * tokens);
    assert.deepEqual(floats.slice(OUT_WASM / 4, OUT_WASM / 4 + rows * tokens), expect);
    // The input changes between jobs: the next job must not read the old records.
    fillX(tokens * cols, 5);
    runMatMul(wasm, ref, OUT_TS, tokens);
    job.newJob!();
    runMatMul(job, ref, OUT_WASM, tokens);
    const again = floats.slice(OUT_TS / 4, OUT_TS / 4 + rows * tokens);
    assert.notDeepEqual(again, expect);
    assert.deepEqual(floats.slice(OUT_WASM / 4, OUT_WASM / 4 + rows * tokens), again);
  }
});

Deno.test("matmul_q8_0 and matmul_q4_0 with float32 activations (the measured alternative) agree with the twin", () => {
  const floatX = createBackend("wasm", {
    backend: "wasm",
    ...init,
    module: compileKernels({ blockActivations: "f32" }),
  });
  for (const type of ["q8_0", "q4_0"] as const) {
    for (const [rows, cols, tokens] of [[5, 96, 1], [13, 288, 4], [1, 32, 7]]) {
      const w = fillWeights(type, rows, cols, rows + cols);
      fillX(tokens * cols, cols);
      const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
      runMatMul(floatX, ref, OUT_WASM, tokens);
      runMatMul(ts, ref, OUT_TS, tokens);
      for (let t = 0; t < tokens; t++) {
        for (let r = 0; r < rows; r++) {
          let scale = 0;
          for (let j = 0; j < cols; j++) {
            scale += Math.abs(w[r * cols + j] * floats[X / 4 + t * cols + j]);
          }
          const i = t * rows + r;
          assert.ok(
            Math.abs(floats[OUT_WASM / 4 + i] - floats[OUT_TS / 4 + i]) <= 1e-5 * scale,
            `${type} ${rows}×${cols} [${t}, ${r}]`,
          );
        }
      }
    }
  }
});

Deno.test("llama kernels --wat prints a block kernel", async () => {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", main, "kernels", "--wat", "matmul_q4_k"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0);
  assert.match(text, /\(func \$matmul_q4_k /);
  assert.match(text, /call \$quantize_x_q8/);
});

Deno.test("a kernel module emitted without a block type runs that type on the TypeScript twin", () => {
  const bare = createBackend("wasm", {
    backend: "wasm",
    ...init,
    module: compileKernels({ blockTypes: [] }),
  });
  const rows = 5, cols = 96;
  fillWeights("q4_0", rows, cols, 3);
  fillX(2 * cols, 4);
  const ref: MatrixRef = { type: "q4_0", byteOffset: 0, rows, cols };
  runMatMul(bare, ref, OUT_WASM, 2);
  runMatMul(ts, ref, OUT_TS, 2);
  assert.deepEqual(
    floats.slice(OUT_WASM / 4, OUT_WASM / 4 + 2 * rows),
    floats.slice(OUT_TS / 4, OUT_TS / 4 + 2 * rows),
  );
});

Deno.test("the largest integer sums of every format do not overflow its 16-bit lanes", () => {
  // Every weight byte 0xff (the largest q: 15 for Q4_0, 31 for Q5_0, 63 for Q6_K, scales and
  // minimums 63 for the K-quants), the float16 scales 1.0, and every activation ±1 (xq = ±127):
  // the largest sum each 16-bit lane of a format can hold.
  const scalesAt: { [T in BlockStorageType]?: number[] } = {
    q4_0: [0],
    q5_0: [0],
    q4_k: [0, 2],
    q5_k: [0, 2],
    q6_k: [208],
  };
  const rows = 8, cols = 512;
  for (const [type, at] of Object.entries(scalesAt) as [BlockStorageType, number[]][]) {
    const { blockBytes } = STORAGE[type];
    const bytes = new Uint8Array(weights.buffer, 0, rows * storageBytes(type, cols)).fill(0xff);
    for (let b = 0; b < bytes.length; b += blockBytes) {
      for (const offset of at) bytes.set([0x00, 0x3c], b + offset); // 1.0, little-endian
    }
    const ref: MatrixRef = { type, byteOffset: 0, rows, cols };
    for (const sign of [1, -1]) {
      for (const tokens of [1, 8]) {
        floats.fill(sign, X / 4, X / 4 + tokens * cols);
        runMatMul(ts, ref, OUT_TS, tokens);
        for (const backend of [dotAdd, noDotAdd, ...unsignedReading]) {
          runMatMul(backend, ref, OUT_WASM, tokens);
          for (let i = 0; i < rows * tokens; i++) {
            const got = floats[OUT_WASM / 4 + i], want = floats[OUT_TS / 4 + i];
            assert.ok(
              Math.abs(got - want) <= 1e-5 * Math.abs(want),
              `${type} x = ${sign}, ${tokens} tokens, out[${i}]: ${got} vs ${want}`,
            );
          }
        }
      }
    }
  }
});

Deno.test("the decode tile picker times both forms in turns and keeps the one with the lower median", () => {
  for (const oneRowFaster of [true, false]) {
    const picker = new DecodeRowsPicker();
    const seen = new Set<boolean>();
    let calls = 0, fastCalls = 0;
    while (picker.choice === undefined) {
      assert.ok(calls++ < 1000, "settles");
      const oneRow = picker.next();
      seen.add(oneRow);
      // The faster form takes 1 ms per MB, the slower 1.4; every 5th call of the faster is
      // interrupted (30 ms per MB), which a mean would count against it and a median does not.
      const fast = oneRow === oneRowFaster;
      const ms = fast ? (++fastCalls % 5 === 0 ? 30 : 1) : 1.4;
      picker.measured(oneRow, ms, 2 ** 20);
    }
    assert.deepEqual([...seen].sort(), [false, true]);
    assert.equal(picker.choice, oneRowFaster);
    assert.equal(picker.next(), oneRowFaster);
  }
  // Calls of a few rows do not settle it: too few bytes to say which is faster.
  const small = new DecodeRowsPicker();
  for (let i = 0; i < 1000; i++) small.measured(small.next(), 0.001, 1024);
  assert.equal(small.choice, undefined);
});
