/**
 * Matrix × vector speed for bf16 weights, the kernel a decode step spends its time in.
 *
 * `deno bench bench/matvec_bench.ts` compares, on one thread, ways of widening bf16 to float32
 * (a 65536-entry table vs a shift through an Int32Array/Float32Array alias; two elements per
 * 32-bit load vs one per 16-bit load): the measurements behind the TypeScript kernel of
 * `lib/kernels/matvec.ts`. The kernels as they run, both backends, are in `kernels_bench.ts`.
 *
 * `deno run --allow-read --allow-ffi --allow-env bench/matvec_bench.ts` prints the same
 * measurements as a table of GB/s of weights streamed (best of several runs).
 *
 * @module
 */

import { matrixView } from "../lib/kernels/matrix.ts";
import { matVecHalves, matVecPairs } from "../lib/kernels/matvec.ts";
import { BF16_TO_F32 } from "../lib/kernels/bf16.ts";

/** bf16 bit patterns of values spread like trained weights (std ≈ 0.02). */
function randomBf16(n: number, buffer: ArrayBufferLike = new ArrayBuffer(n * 2)): Uint16Array {
  const out = new Uint16Array(buffer, 0, n);
  const f = new Float32Array(1), bits = new Uint32Array(f.buffer);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f[0] = ((s / 2 ** 32) - 0.5) * 0.07;
    out[i] = bits[0] >>> 16;
  }
  return out;
}

// ---- Alternatives to the table lookup, for comparison only ----------------------------------

const alias = new Int32Array(8), aliasF = new Float32Array(alias.buffer);

/** Like matVecPairs (4 rows, 4 columns per step), but widening by shifting bits through an alias. */
function matVecPairsShift(
  out: Float32Array,
  pairs: Uint32Array,
  x: Float32Array,
  n: number,
  rowStart: number,
  rowEnd: number,
): void {
  const words = n >> 1, I = alias, F = aliasF;
  for (let r = rowStart; r + 4 <= rowEnd; r += 4) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let k0 = r * words;
    let k1 = k0 + words, k2 = k1 + words, k3 = k2 + words;
    for (let j = 0; j < n; j += 4) {
      const x0 = x[j], x1 = x[j + 1], x2 = x[j + 2], x3 = x[j + 3];
      let a = pairs[k0], b = pairs[k0 + 1];
      I[0] = a << 16;
      I[1] = a & 0xffff0000;
      I[2] = b << 16;
      I[3] = b & 0xffff0000;
      s0 += F[0] * x0;
      s0 += F[1] * x1;
      s0 += F[2] * x2;
      s0 += F[3] * x3;
      a = pairs[k1], b = pairs[k1 + 1];
      I[4] = a << 16;
      I[5] = a & 0xffff0000;
      I[6] = b << 16;
      I[7] = b & 0xffff0000;
      s1 += F[4] * x0;
      s1 += F[5] * x1;
      s1 += F[6] * x2;
      s1 += F[7] * x3;
      a = pairs[k2], b = pairs[k2 + 1];
      I[0] = a << 16;
      I[1] = a & 0xffff0000;
      I[2] = b << 16;
      I[3] = b & 0xffff0000;
      s2 += F[0] * x0;
      s2 += F[1] * x1;
      s2 += F[2] * x2;
      s2 += F[3] * x3;
      a = pairs[k3], b = pairs[k3 + 1];
      I[4] = a << 16;
      I[5] = a & 0xffff0000;
      I[6] = b << 16;
      I[7] = b & 0xffff0000;
      s3 += F[4] * x0;
      s3 += F[5] * x1;
      s3 += F[6] * x2;
      s3 += F[7] * x3;
      k0 += 2;
      k1 += 2;
      k2 += 2;
      k3 += 2;
    }
    out[r] = s0;
    out[r + 1] = s1;
    out[r + 2] = s2;
    out[r + 3] = s3;
  }
}

/** One element per load, widened by a shift through the alias. */
function matVecHalvesShift(
  out: Float32Array,
  halves: Uint16Array,
  x: Float32Array,
  n: number,
  rowStart: number,
  rowEnd: number,
): void {
  const I = alias, F = aliasF;
  for (let r = rowStart; r < rowEnd; r++) {
    let s = 0;
    let k = r * n;
    for (let j = 0; j < n; j++) {
      I[0] = halves[k++] << 16;
      s += F[0] * x[j];
    }
    out[r] = s;
  }
}

// ---- Single-thread conversion strategies on 8192 × 2048 --------------------------------------

const ROWS = 8192, COLS = 2048;
const single = matrixView("bf16", randomBf16(ROWS * COLS).buffer, 0, ROWS, COLS);
const x = Float32Array.from({ length: COLS }, (_, i) => Math.sin(i));
const out = new Float32Array(ROWS);

const strategies: Record<string, () => void> = {
  "table, 2 per load (used)": () =>
    matVecPairs(BF16_TO_F32, out, 0, single.pairs!, x, 0, COLS, 0, ROWS),
  "shift, 2 per load": () => matVecPairsShift(out, single.pairs!, x, COLS, 0, ROWS),
  "table, 1 per load": () => matVecHalves(BF16_TO_F32, out, 0, single.halves!, x, 0, COLS, 0, ROWS),
  "shift, 1 per load": () => matVecHalvesShift(out, single.halves!, x, COLS, 0, ROWS),
};
for (const [name, run] of Object.entries(strategies)) {
  Deno.bench(`bf16 ${ROWS}x${COLS} ${name}`, { group: "bf16 widening, 1 thread" }, run);
}

if (import.meta.main) {
  const best = async (run: () => unknown, reps: number) => {
    let min = Infinity;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await run();
      min = Math.min(min, performance.now() - t0);
    }
    return min;
  };
  console.log("1 thread, bf16 8192x2048 (32 MiB):");
  for (const [name, run] of Object.entries(strategies)) {
    await best(run, 3);
    const ms = await best(run, 15);
    console.log(
      `  ${name.padEnd(26)} ${ms.toFixed(2).padStart(7)} ms ${gbps(ROWS * COLS * 2, ms)}`,
    );
  }
}

function gbps(bytes: number, ms: number): string {
  return `${(bytes / ms / 1e6).toFixed(2).padStart(6)} GB/s`;
}
