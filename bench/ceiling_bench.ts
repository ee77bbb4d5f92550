/**
 * What plain scalar TypeScript can do on this machine: the ceilings kernel benches are
 * measured against.
 *
 * - **FLOP ceiling** — f32 multiply-adds on data in L1/L2 cache. V8 does not vectorize,
 *   so each is one scalar multiply and add; the rate depends on how many independent
 *   accumulator chains the loop keeps in flight (plain dots with 1, 4, 8 accumulators) and
 *   on how many loads each multiply-add costs (register blocks of 4×1 up to 4×4 sums).
 * - **Memory ceiling** — sums over a 256 MiB array (far beyond the 32 MiB L3), so every
 *   byte comes from DRAM. For reference, not as a ceiling: a read of one word per 64-byte
 *   cache line, which shows how fast lines arrive when the loop body costs nothing.
 * - **Streaming dots** — the same dot product when one side streams from memory: one long
 *   dot over 2 × 64 MiB, and 4096 rows of 4096 against one cached vector (a matvec).
 * - **bf16 → f32** — the ways to widen bfloat16 in TypeScript: shift into an Int32Array
 *   aliased with a Float32Array of one element; a 65536-entry lookup table; two bf16 per
 *   Uint32 load, split by shift or by table; widening a chunk of the row into an f32
 *   scratch, then a plain dot. For f16: a `Float16Array` view against a lookup table.
 *
 * Names follow `bench/metrics.ts` so `deno task bench:report` can print GFLOP/s, GB/s
 * and the percentage of the ceiling.
 *
 * Run: `deno bench bench/ceiling_bench.ts` or `deno task bench:report bench/ceiling_bench.ts`.
 *
 * @module
 */

import { benchName } from "./metrics.ts";
import { lazy, randomBf16, randomF16, randomF32, sink } from "./data.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------
// f32 dot products. All arithmetic is float64 in JS; Float32Array loads widen for free.

/** a (n,) · b (n,) with one accumulator: every add waits for the previous one. */
function dotF32Acc1(a: Float32Array, b: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/** a (n,) · b (n,) with four independent accumulators. */
function dotF32Acc4(a: Float32Array, b: Float32Array, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

/** a (n,) · b (n,) with eight independent accumulators. */
function dotF32Acc8(a: Float32Array, b: Float32Array, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
    s4 += a[i + 4] * b[i + 4];
    s5 += a[i + 5] * b[i + 5];
    s6 += a[i + 6] * b[i + 6];
    s7 += a[i + 7] * b[i + 7];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

/** Sums written by the register-blocked kernels below. */
const blockOut = new Float64Array(16);

/**
 * A (4, n) @ b (n,) -> 4 sums, rows of `a` at `r·n`: each loaded b element feeds four
 * multiply-adds (the shape of `matVec`'s inner loop).
 */
function block4x1(a: Float32Array, b: Float32Array, n: number): void {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let j = 0; j < n; j++) {
    const x = b[j];
    s0 += a[j] * x;
    s1 += a[n + j] * x;
    s2 += a[2 * n + j] * x;
    s3 += a[3 * n + j] * x;
  }
  blockOut[0] = s0;
  blockOut[1] = s1;
  blockOut[2] = s2;
  blockOut[3] = s3;
}

/** A (2, n) @ B (2, n)^T -> 2 × 2 sums: four loads feed four multiply-adds. */
function block2x2(a: Float32Array, b: Float32Array, n: number): void {
  let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
  for (let j = 0; j < n; j++) {
    const a0 = a[j], a1 = a[n + j], x0 = b[j], x1 = b[n + j];
    s00 += a0 * x0;
    s01 += a0 * x1;
    s10 += a1 * x0;
    s11 += a1 * x1;
  }
  blockOut[0] = s00;
  blockOut[1] = s01;
  blockOut[2] = s10;
  blockOut[3] = s11;
}

/** A (4, n) @ B (2, n)^T -> 4 × 2 sums: six loads feed eight multiply-adds. */
function block4x2(a: Float32Array, b: Float32Array, n: number): void {
  let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
  for (let j = 0; j < n; j++) {
    const x0 = b[j], x1 = b[n + j];
    const a0 = a[j], a1 = a[n + j], a2 = a[2 * n + j], a3 = a[3 * n + j];
    s00 += a0 * x0;
    s01 += a0 * x1;
    s10 += a1 * x0;
    s11 += a1 * x1;
    s20 += a2 * x0;
    s21 += a2 * x1;
    s30 += a3 * x0;
    s31 += a3 * x1;
  }
  blockOut[0] = s00;
  blockOut[1] = s01;
  blockOut[2] = s10;
  blockOut[3] = s11;
  blockOut[4] = s20;
  blockOut[5] = s21;
  blockOut[6] = s30;
  blockOut[7] = s31;
}

/** A (4, n) @ B (4, n)^T -> 4 × 4 sums: 16 accumulators, as many as x86-64 has registers. */
function block4x4(a: Float32Array, b: Float32Array, n: number): void {
  let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
  let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
  for (let j = 0; j < n; j++) {
    const x0 = b[j], x1 = b[n + j], x2 = b[2 * n + j], x3 = b[3 * n + j];
    let w = a[j];
    s00 += w * x0;
    s01 += w * x1;
    s02 += w * x2;
    s03 += w * x3;
    w = a[n + j];
    s10 += w * x0;
    s11 += w * x1;
    s12 += w * x2;
    s13 += w * x3;
    w = a[2 * n + j];
    s20 += w * x0;
    s21 += w * x1;
    s22 += w * x2;
    s23 += w * x3;
    w = a[3 * n + j];
    s30 += w * x0;
    s31 += w * x1;
    s32 += w * x2;
    s33 += w * x3;
  }
  blockOut[0] = (s00 + s01 + s02 + s03) + (s10 + s11 + s12 + s13);
  blockOut[1] = (s20 + s21 + s22 + s23) + (s30 + s31 + s32 + s33);
}

/** W (rows, cols) f32 @ x (cols,) -> out (rows,): a matvec made of 4-accumulator dots. */
function rowsF32(w: Float32Array, x: Float32Array, out: Float32Array, rows: number, cols: number) {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i < cols; i += 4) {
      s0 += w[base + i] * x[i];
      s1 += w[base + i + 1] * x[i + 1];
      s2 += w[base + i + 2] * x[i + 2];
      s3 += w[base + i + 3] * x[i + 3];
    }
    out[r] = (s0 + s1) + (s2 + s3);
  }
}

// ---------------------------------------------------------------------------------------
// bf16 → f32. A bf16 is the top half of an f32, so widening is `bits << 16` reinterpreted.

/** One int32 and one float32 over the same four bytes: the reinterpreting cast. */
const castI32 = new Int32Array(1);
const castF32 = new Float32Array(castI32.buffer);

/** Every bf16 bit pattern widened once: 256 KiB, fits L2 but not L1. */
const bf16Table = lazy(() => {
  const table = new Float32Array(65536);
  for (let u = 0; u < 65536; u++) {
    castI32[0] = u << 16;
    table[u] = castF32[0];
  }
  return table;
});

/** Every f16 bit pattern widened once, through `Float16Array`. */
const f16Table = lazy(() => {
  const bits = new Uint16Array(65536);
  for (let u = 0; u < 65536; u++) bits[u] = u;
  return Float32Array.from(new Float16Array(bits.buffer));
});

/** w (n,) bf16 · x (n,) f32, widening each element by shifting through the cast alias. */
function dotBf16Shift(w: Uint16Array, wOff: number, x: Float32Array, n: number): number {
  const i32 = castI32, f32 = castF32;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < n; i += 4) {
    const j = wOff + i;
    i32[0] = w[j] << 16;
    s0 += f32[0] * x[i];
    i32[0] = w[j + 1] << 16;
    s1 += f32[0] * x[i + 1];
    i32[0] = w[j + 2] << 16;
    s2 += f32[0] * x[i + 2];
    i32[0] = w[j + 3] << 16;
    s3 += f32[0] * x[i + 3];
  }
  return (s0 + s1) + (s2 + s3);
}

/** w (n,) bf16 · x (n,) f32, widening each element with the 65536-entry table. */
function dotBf16Table(
  table: Float32Array,
  w: Uint16Array,
  wOff: number,
  x: Float32Array,
  n: number,
): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < n; i += 4) {
    const j = wOff + i;
    s0 += table[w[j]] * x[i];
    s1 += table[w[j + 1]] * x[i + 1];
    s2 += table[w[j + 2]] * x[i + 2];
    s3 += table[w[j + 3]] * x[i + 3];
  }
  return (s0 + s1) + (s2 + s3);
}

/**
 * w (n,) bf16 · x (n,) f32, reading two bf16 per Uint32 load (`w32` views the same bytes;
 * `w32Off` is the element offset / 2). Little-endian: the low half is the earlier element.
 */
function dotBf16Pairs(w32: Uint32Array, w32Off: number, x: Float32Array, n: number): number {
  const i32 = castI32, f32 = castF32;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < n; i += 4) {
    const j = w32Off + (i >>> 1);
    const p = w32[j], q = w32[j + 1];
    i32[0] = p << 16;
    s0 += f32[0] * x[i];
    i32[0] = p & 0xffff0000;
    s1 += f32[0] * x[i + 1];
    i32[0] = q << 16;
    s2 += f32[0] * x[i + 2];
    i32[0] = q & 0xffff0000;
    s3 += f32[0] * x[i + 3];
  }
  return (s0 + s1) + (s2 + s3);
}

/** w (n,) bf16 · x (n,) f32: two bf16 per Uint32 load, each half widened by the table. */
function dotBf16PairsTable(
  table: Float32Array,
  w32: Uint32Array,
  w32Off: number,
  x: Float32Array,
  n: number,
): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < n; i += 4) {
    const j = w32Off + (i >>> 1);
    const p = w32[j], q = w32[j + 1];
    s0 += table[p & 0xffff] * x[i];
    s1 += table[p >>> 16] * x[i + 1];
    s2 += table[q & 0xffff] * x[i + 2];
    s3 += table[q >>> 16] * x[i + 3];
  }
  return (s0 + s1) + (s2 + s3);
}

/** Elements widened per chunk: 2 KiB of f32 scratch, small enough to stay in L1. */
const CHUNK = 512;
const chunkF32 = new Float32Array(CHUNK);
const chunkI32 = new Int32Array(chunkF32.buffer);

/** w (n,) bf16 · x (n,) f32: widen CHUNK elements into an f32 scratch, then a plain dot. */
function dotBf16Chunk(w: Uint16Array, wOff: number, x: Float32Array, n: number): number {
  const bits = chunkI32, f = chunkF32;
  let total = 0;
  for (let c = 0; c < n; c += CHUNK) {
    const len = Math.min(CHUNK, n - c);
    const j = wOff + c;
    for (let i = 0; i < len; i++) bits[i] = w[j + i] << 16;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i < len; i += 4) {
      s0 += f[i] * x[c + i];
      s1 += f[i + 1] * x[c + i + 1];
      s2 += f[i + 2] * x[c + i + 2];
      s3 += f[i + 3] * x[c + i + 3];
    }
    total += (s0 + s1) + (s2 + s3);
  }
  return total;
}

/** w (n,) f16 · x (n,) f32 through a `Float16Array` view (V8 widens on load). */
function dotF16Array(w: Float16Array, wOff: number, x: Float32Array, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < n; i += 4) {
    const j = wOff + i;
    s0 += w[j] * x[i];
    s1 += w[j + 1] * x[i + 1];
    s2 += w[j + 2] * x[i + 2];
    s3 += w[j + 3] * x[i + 3];
  }
  return (s0 + s1) + (s2 + s3);
}

/** w (n,) f16 · x (n,) f32 through the f16 table. */
function dotF16Table(
  table: Float32Array,
  w: Uint16Array,
  wOff: number,
  x: Float32Array,
  n: number,
): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < n; i += 4) {
    const j = wOff + i;
    s0 += table[w[j]] * x[i];
    s1 += table[w[j + 1]] * x[i + 1];
    s2 += table[w[j + 2]] * x[i + 2];
    s3 += table[w[j + 3]] * x[i + 3];
  }
  return (s0 + s1) + (s2 + s3);
}

// ---------------------------------------------------------------------------------------
// Memory streaming reads.

/** Sum of an Int32Array in int32 arithmetic, four accumulators: the cheapest work per word. */
function sumI32Acc4(a: Int32Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n = a.length;
  for (let i = 0; i < n; i += 4) {
    s0 = (s0 + a[i]) | 0;
    s1 = (s1 + a[i + 1]) | 0;
    s2 = (s2 + a[i + 2]) | 0;
    s3 = (s3 + a[i + 3]) | 0;
  }
  return (s0 + s1 + s2 + s3) | 0;
}

/** Sum of a Float64Array with one accumulator. */
function sumF64Acc1(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** Sum of a Float64Array with four accumulators. */
function sumF64Acc4(a: Float64Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n = a.length;
  for (let i = 0; i < n; i += 4) {
    s0 += a[i];
    s1 += a[i + 1];
    s2 += a[i + 2];
    s3 += a[i + 3];
  }
  return (s0 + s1) + (s2 + s3);
}

/** Sum of a Float64Array with eight accumulators. */
function sumF64Acc8(a: Float64Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  const n = a.length;
  for (let i = 0; i < n; i += 8) {
    s0 += a[i];
    s1 += a[i + 1];
    s2 += a[i + 2];
    s3 += a[i + 3];
    s4 += a[i + 4];
    s5 += a[i + 5];
    s6 += a[i + 6];
    s7 += a[i + 7];
  }
  return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

/** One Int32 per 64-byte line: the hardware still moves every line, the loop barely works. */
function touchLines(a: Int32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i += 16) s = (s + a[i]) | 0;
  return s;
}

// ---------------------------------------------------------------------------------------
// Inputs, allocated on first use.

const L1_N = 2048; // 2 × 8 KiB: fits the 32 KiB L1d
const L2_N = 16384; // 2 × 64 KiB: fits the 512 KiB L2
const STREAM_N = 16 * MiB; // 2 × 64 MiB: twice the 32 MiB L3
const BIG_BYTES = 256 * MiB;
const ROWS = 8192, COLS = 4096; // 16-bit weights: 64 MiB; f32 uses ROWS/2 for the same bytes

const smallA = lazy(() => randomF32(L2_N, 1));
const smallB = lazy(() => randomF32(L2_N, 2));
const streamA = lazy(() => randomF32(STREAM_N, 3));
const streamB = lazy(() => randomF32(STREAM_N, 4));
const big = lazy(() => {
  // Small integers as doubles: finite, no subnormals, exact sums; an Int32 view reads the same bytes.
  const f64 = new Float64Array(BIG_BYTES / 8);
  for (let i = 0; i < f64.length; i++) f64[i] = i & 1023;
  return { f64, i32: new Int32Array(f64.buffer) };
});
const rowsF32W = lazy(() => randomF32((ROWS / 2) * COLS, 5));
const rowsBf16W = lazy(() => randomBf16(ROWS * COLS, 6));
const rowsF16W = lazy(() => randomF16(ROWS * COLS, 7));
const xCols = lazy(() => randomF32(COLS, 8));
const outRows = new Float32Array(ROWS);

// ---------------------------------------------------------------------------------------
// FLOP ceiling: f32 dots in cache.

const dotBytes = (n: number) => 2 * n * 4;
const flopGroup = "ceiling f32 multiply-add in cache";

for (
  const [acc, dot] of [[1, dotF32Acc1], [4, dotF32Acc4], [8, dotF32Acc8]] as const
) {
  Deno.bench({
    name: benchName(`dot f32 n=${L1_N} (L1) ${acc} acc`, {
      flops: 2 * L1_N,
      bytes: dotBytes(L1_N),
      bound: "flops",
      ceiling: true,
    }),
    group: flopGroup,
    baseline: acc === 4,
    fn() {
      sink.value += dot(smallA(), smallB(), L1_N);
    },
  });
}

for (const [acc, dot] of [[1, dotF32Acc1], [4, dotF32Acc4]] as const) {
  Deno.bench({
    name: benchName(`dot f32 n=${L2_N} (L2) ${acc} acc`, {
      flops: 2 * L2_N,
      bytes: dotBytes(L2_N),
      bound: "flops",
      ceiling: true,
    }),
    group: flopGroup,
    fn() {
      sink.value += dot(smallA(), smallB(), L2_N);
    },
  });
}

// A dot product spends two loads per multiply-add; kernels that reuse each load (matVec's
// 4 rows, matMul's rows × tokens) do better, so register-blocked products set the ceiling.
const BLOCK_N = 512; // at most 8 rows of 2 KiB: L1
const blocks = [[4, 1, block4x1], [2, 2, block2x2], [4, 2, block4x2], [4, 4, block4x4]] as const;

for (const [rows, vectors, block] of blocks) {
  Deno.bench({
    name: benchName(`dots f32 ${rows} rows x ${vectors} vectors n=${BLOCK_N} (L1)`, {
      flops: 2 * rows * vectors * BLOCK_N,
      bytes: (rows + vectors) * BLOCK_N * 4,
      bound: "flops",
      ceiling: true,
    }),
    group: flopGroup,
    fn() {
      block(smallA(), smallB(), BLOCK_N);
      sink.value += blockOut[0];
    },
  });
}

// ---------------------------------------------------------------------------------------
// Memory ceiling: 256 MiB reads.

const memoryGroup = "ceiling memory read 256 MiB";
const memWork = { bytes: BIG_BYTES, bound: "bytes", ceiling: true } as const;
const f64Sums = [[1, sumF64Acc1], [4, sumF64Acc4], [8, sumF64Acc8]] as const;

Deno.bench({
  name: benchName("sum i32 4 acc", memWork),
  group: memoryGroup,
  fn() {
    sink.value += sumI32Acc4(big().i32);
  },
});
for (const [acc, sum] of f64Sums) {
  Deno.bench({
    name: benchName(`sum f64 ${acc} acc`, { ...memWork, flops: BIG_BYTES / 8 }),
    group: memoryGroup,
    baseline: acc === 4,
    fn() {
      sink.value += sum(big().f64);
    },
  });
}
// Not a ceiling: it reads one word in 16, so no loop that uses every byte can match it. It
// shows how fast DRAM delivers lines when the loop costs nothing.
Deno.bench({
  name: benchName("DRAM line rate: one i32 per 64 B line", { bytes: BIG_BYTES, bound: "bytes" }),
  group: memoryGroup,
  fn() {
    sink.value += touchLines(big().i32);
  },
});

// ---------------------------------------------------------------------------------------
// f32 dots that stream from memory.

const streamGroup = "f32 dot streaming from memory";

Deno.bench({
  name: benchName(`dot f32 n=${STREAM_N / MiB}Mi (2 x 64 MiB) 4 acc`, {
    flops: 2 * STREAM_N,
    bytes: dotBytes(STREAM_N),
    bound: "bytes",
  }),
  group: streamGroup,
  fn() {
    sink.value += dotF32Acc4(streamA(), streamB(), STREAM_N);
  },
});
Deno.bench({
  name: benchName(`rows f32 ${ROWS / 2}x${COLS} (64 MiB) @ x`, {
    flops: 2 * (ROWS / 2) * COLS,
    bytes: (ROWS / 2) * COLS * 4 + COLS * 4 + (ROWS / 2) * 4,
    bound: "bytes",
  }),
  group: streamGroup,
  fn() {
    rowsF32(rowsF32W(), xCols(), outRows, ROWS / 2, COLS);
    sink.value += outRows[0];
  },
});

// ---------------------------------------------------------------------------------------
// 16-bit → f32 dots: in cache (conversion cost) and streaming rows (memory cost).

const BF16_N = 4096; // 8 KiB of bf16 + 16 KiB of x
const halfWork = (n: number) => ({ flops: 2 * n, bytes: n * 2 + n * 4 });

/** The variants as `(weights, elementOffset, x, n) -> dot` over the same Uint16Array bytes. */
interface Variant {
  label: string;
  dtype: "bf16" | "f16";
  make(w: Uint16Array): (off: number, x: Float32Array, n: number) => number;
}

const variants: Variant[] = [
  {
    label: "shift via i32/f32 alias",
    dtype: "bf16",
    make: (w) => (off, x, n) => dotBf16Shift(w, off, x, n),
  },
  {
    label: "65536-entry table",
    dtype: "bf16",
    make: (w) => {
      const table = bf16Table();
      return (off, x, n) => dotBf16Table(table, w, off, x, n);
    },
  },
  {
    label: "u32 pairs split hi/lo",
    dtype: "bf16",
    make: (w) => {
      const w32 = new Uint32Array(w.buffer, w.byteOffset, w.length >>> 1);
      return (off, x, n) => dotBf16Pairs(w32, off >>> 1, x, n);
    },
  },
  {
    label: "u32 pairs split by table",
    dtype: "bf16",
    make: (w) => {
      const table = bf16Table();
      const w32 = new Uint32Array(w.buffer, w.byteOffset, w.length >>> 1);
      return (off, x, n) => dotBf16PairsTable(table, w32, off >>> 1, x, n);
    },
  },
  {
    label: `chunk -> f32 scratch (${CHUNK})`,
    dtype: "bf16",
    make: (w) => (off, x, n) => dotBf16Chunk(w, off, x, n),
  },
  {
    label: "Float16Array view",
    dtype: "f16",
    make: (w) => {
      const h = new Float16Array(w.buffer, w.byteOffset, w.length);
      return (off, x, n) => dotF16Array(h, off, x, n);
    },
  },
  {
    label: "65536-entry table",
    dtype: "f16",
    make: (w) => {
      const table = f16Table();
      return (off, x, n) => dotF16Table(table, w, off, x, n);
    },
  },
];

const smallBf16 = lazy(() => randomBf16(BF16_N, 9));
const smallF16 = lazy(() => randomF16(BF16_N, 10));

for (const v of variants) {
  const dot = lazy(() => v.make(v.dtype === "bf16" ? smallBf16() : smallF16()));
  Deno.bench({
    name: benchName(`dot ${v.dtype} n=${BF16_N} ${v.label}`, {
      ...halfWork(BF16_N),
      bound: "flops",
    }),
    group: "16-bit dot in cache",
    baseline: v.dtype === "bf16" && v.label.startsWith("shift"),
    fn() {
      sink.value += dot()(0, smallA(), BF16_N);
    },
  });
}

for (const v of variants) {
  const dot = lazy(() => v.make(v.dtype === "bf16" ? rowsBf16W() : rowsF16W()));
  Deno.bench({
    name: benchName(`rows ${v.dtype} ${ROWS}x${COLS} (64 MiB) ${v.label}`, {
      flops: 2 * ROWS * COLS,
      bytes: ROWS * COLS * 2 + COLS * 4 + ROWS * 4,
      bound: "bytes",
    }),
    group: "16-bit rows streaming from memory",
    baseline: v.dtype === "bf16" && v.label.startsWith("shift"),
    fn() {
      const d = dot(), x = xCols();
      for (let r = 0; r < ROWS; r++) outRows[r] = d(r * COLS, x, COLS);
      sink.value += outRows[0];
    },
  });
}
