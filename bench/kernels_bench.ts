/**
 * Every kernel of `lib/kernels/` at the shapes of Llama 3.1 8B and Llama 3.2 1B.
 *
 * - **matvec** (decode: one token through a weight matrix), bf16, f16 and f32 weights,
 *   single-threaded through `matVec`, and for bf16 also through the worker pool with one
 *   worker and with one per CPU (the `FFN_DOWN` job of `lib/model/jobs.ts`, which is exactly
 *   one matrix × one vector when given one token).
 * - **matmul** (prefill: 64 tokens through a weight matrix), single-threaded and pooled.
 * - **rmsnorm**, **rope**, **softmax**, **swiglu** at model widths.
 * - **attention** of one decoded token over a KV cache of 1k and 8k positions, every
 *   query head, single-threaded and pooled (the `ATTENTION` job).
 *
 * During decode every weight byte comes from DRAM: the model is far larger than the
 * 32 MiB L3. A bench that ran one 8 MiB matrix over and over would instead read it from
 * cache, so matrix-vector benches rotate through a 1 GiB buffer (one matrix-sized slot per
 * iteration) and attention benches through several layers' KV caches of ≥ 64 MiB in all.
 * All 16-bit shapes are views into the same 1 GiB buffer (the size of the 8B classifier);
 * its bits are normal numbers read as either bf16 or f16. f32 weights (only test fixtures
 * use them) are benched for shapes of at most 64 MiB, inside a 256 MiB buffer. In all,
 * about 1.7 GiB is allocated, each part on first use.
 *
 * Names follow `bench/metrics.ts`; `deno task bench:report` turns them into GB/s,
 * GFLOP/s and the percentage of the single-thread ceilings of `ceiling_bench.ts`.
 * Multiply-adds count 2 FLOPs; `exp` counts 1 (so softmax and SwiGLU show how far an
 * exp-heavy loop is from a multiply-add loop).
 *
 * Run: `deno task bench bench/kernels_bench.ts`, or with a filter, e.g.
 * `deno task bench --filter "matvec bf16" bench/kernels_bench.ts`.
 *
 * @module
 */

import type { DType } from "../lib/tensor/dtype.ts";
import { attend } from "../lib/kernels/attention.ts";
import { type Matrix, matrixView } from "../lib/kernels/matrix.ts";
import { matMul, MATMUL_ROWS } from "../lib/kernels/matmul.ts";
import { matVec, matVecHalves } from "../lib/kernels/matvec.ts";
import { rmsNorm } from "../lib/kernels/rmsnorm.ts";
import { rope, ropeTable } from "../lib/kernels/rope.ts";
import { swiGlu } from "../lib/kernels/silu.ts";
import { softmax } from "../lib/kernels/softmax.ts";
import { type MatrixSpec, type ModelInit, Op } from "../lib/model/jobs.ts";
import { RunState } from "../lib/model/run_state.ts";
import { WorkerPool } from "../lib/parallel/pool.ts";
import { fillRandomF32, lazy, randomBf16, randomF32, sink } from "./data.ts";
import { benchName } from "./metrics.ts";

const MiB = 1024 * 1024;
/** Tokens in one prefill chunk for the matmul benches. */
const PREFILL = 64;
/** All CPUs, for the pool benches. */
const ALL = navigator.hardwareConcurrency;

/** A weight matrix shape, `(rows, cols)` = (output features, input features). */
interface Shape {
  readonly rows: number;
  readonly cols: number;
  /** Which weights of which model have this shape. */
  readonly what: string;
}

const SHAPES: readonly Shape[] = [
  { rows: 4096, cols: 4096, what: "8B wq wo" },
  { rows: 1024, cols: 4096, what: "8B wk wv" },
  { rows: 14336, cols: 4096, what: "8B w1 w3" },
  { rows: 4096, cols: 14336, what: "8B w2" },
  { rows: 128256, cols: 4096, what: "8B output" },
  { rows: 2048, cols: 2048, what: "1B wq wo" },
  { rows: 512, cols: 2048, what: "1B wk wv" },
  { rows: 8192, cols: 2048, what: "1B w1 w3" },
  { rows: 2048, cols: 8192, what: "1B w2" },
  { rows: 128256, cols: 2048, what: "1B output" },
];

const shapeLabel = (s: Shape) => `${s.rows}x${s.cols} (${s.what})`;
const elementBytes = (dtype: DType) => (dtype === "f32" ? 4 : 2);

/**
 * Iteration counts for slow benches: Deno's default runs a bench for about half a second
 * after a warm-up of similar length, which for a 0.5 s matvec means ~20 runs. `seconds` is a
 * pessimistic estimate of one iteration.
 */
function timing(seconds: number): { n?: number; warmup?: number } {
  if (seconds < 0.02) return {};
  return { n: Math.max(2, Math.min(10, Math.round(1.5 / seconds))), warmup: 1 };
}

// ---------------------------------------------------------------------------------------
// Weights: one shared 16-bit buffer, one f32 buffer, viewed as many matrix-sized slots.

const HALF_BYTES = 128256 * 4096 * 2; // the 8B classifier in bf16: 1002 MiB
const F32_BYTES = 256 * MiB;

const halfBuffer = lazy(() => randomBf16(HALF_BYTES / 2, 11, true).buffer as SharedArrayBuffer);
const f32Buffer = lazy(() => randomF32(F32_BYTES / 4, 12, true).buffer as SharedArrayBuffer);

/** Where each slot of `shape` lies in the buffer of its dtype; consecutive slots. */
function slotSpecs(dtype: DType, shape: Shape): MatrixSpec[] {
  const total = dtype === "f32" ? F32_BYTES : HALF_BYTES;
  const bytes = shape.rows * shape.cols * elementBytes(dtype);
  const count = Math.max(1, Math.floor(total / bytes));
  return Array.from({ length: count }, (_, k) => ({
    dtype,
    byteOffset: k * bytes,
    rows: shape.rows,
    cols: shape.cols,
  }));
}

function slotMatrices(dtype: DType, shape: Shape): Matrix[] {
  const buffer = dtype === "f32" ? f32Buffer() : halfBuffer();
  return slotSpecs(dtype, shape).map((s) =>
    matrixView(dtype, buffer, s.byteOffset, s.rows, s.cols)
  );
}

/** Work of `nTokens` tokens through a `shape` matrix: weights read once, x and out once. */
function projectionWork(dtype: DType, shape: Shape, nTokens: number) {
  const { rows, cols } = shape;
  return {
    flops: 2 * nTokens * rows * cols,
    bytes: rows * cols * elementBytes(dtype) + nTokens * (cols + rows) * 4,
  };
}

// ---------------------------------------------------------------------------------------
// The worker pool: one live pool at a time, restarted when a bench needs another setup.

let live: { key: string; pool: WorkerPool; state: RunState } | undefined;

async function poolFor(
  key: string,
  workers: number,
  make: () => { init: ModelInit; state: RunState },
): Promise<{ pool: WorkerPool; state: RunState }> {
  if (live?.key === key) return live;
  live?.pool.close();
  live = undefined;
  const { init, state } = make();
  const pool = await WorkerPool.start(workers, init);
  live = { key, pool, state };
  return live;
}

globalThis.addEventListener("unload", () => live?.pool.close());

/**
 * A pool whose layers are the slots of one matrix: job `FFN_DOWN` on layer `k` computes
 * `xb2 (T, rows) = hb (T, cols) @ slot_k^T`, split by rows between the workers. The other
 * matrices of a layer point at the same slot; only `w2` is used.
 */
function projectionInit(shape: Shape, maxBatch: number): { init: ModelInit; state: RunState } {
  const state = RunState.allocate({
    dim: shape.rows,
    kvDim: 1,
    hiddenDim: shape.cols,
    nLayers: 0,
    vocabSize: 1,
    contextLength: 1,
    maxBatch,
  });
  fillRandomF32(state.hb, 13);
  const layers = slotSpecs("bf16", shape).map((w) => ({
    wq: w,
    wk: w,
    wv: w,
    wo: w,
    w1: w,
    w2: w,
    w3: w,
  }));
  const init: ModelInit = {
    nHeads: 1,
    nKvHeads: 1,
    headDim: 1,
    weights: { kind: "buffer", buffer: halfBuffer() },
    layers,
    output: layers[0].w2,
    state: state.buffers,
  };
  return { init, state };
}

// ---------------------------------------------------------------------------------------
// matvec: W (rows, cols) @ x (cols,) -> out (rows,)

const xMax = lazy(() => randomF32(14336, 14));
const outMax = new Float32Array(128256);

for (const dtype of ["bf16", "f16", "f32"] as const) {
  for (const shape of SHAPES) {
    const work = projectionWork(dtype, shape, 1);
    if (dtype === "f32" && work.bytes > 64 * MiB + MiB) continue;
    const slots = lazy(() => slotMatrices(dtype, shape));
    let i = 0;
    Deno.bench({
      name: benchName(`matvec ${dtype} ${shapeLabel(shape)}`, { ...work, bound: "bytes" }),
      group: `matvec ${dtype}`,
      ...timing(work.bytes / 1e9),
      fn() {
        const s = slots();
        matVec(outMax, 0, s[i++ % s.length], xMax(), 0, 0, shape.rows);
        sink.value += outMax[0];
      },
    });
  }
}

{
  // The one-element-at-a-time fallback for unaligned 16-bit matrices.
  const shape = SHAPES[0];
  const work = projectionWork("bf16", shape, 1);
  const slots = lazy(() => slotMatrices("bf16", shape));
  let i = 0;
  Deno.bench({
    name: benchName(`matVecHalves bf16 ${shapeLabel(shape)} (unaligned fallback)`, {
      ...work,
      bound: "bytes",
    }),
    group: "matvec bf16",
    ...timing(work.bytes / 1e9),
    fn() {
      const s = slots();
      const m = s[i++ % s.length];
      matVecHalves(m.table!, outMax, 0, m.halves!, xMax(), 0, shape.cols, 0, shape.rows);
      sink.value += outMax[0];
    },
  });
}

for (const shape of SHAPES) {
  const work = projectionWork("bf16", shape, 1);
  for (const workers of new Set([1, ALL])) {
    let i = 0;
    const slotCount = lazy(() => slotSpecs("bf16", shape).length);
    Deno.bench({
      name: benchName(`matvec bf16 ${shapeLabel(shape)} pool ${workers}`, {
        ...work,
        bound: "bytes",
        extra: { workers: String(workers) },
      }),
      group: "matvec bf16 through the pool",
      ...timing(work.bytes / 1e9 / workers),
      async fn(b) {
        const key = `matvec ${shape.rows}x${shape.cols} ${workers}`;
        const { pool } = await poolFor(key, workers, () => projectionInit(shape, 1));
        const layer = i++ % slotCount();
        b.start();
        await pool.run(Op.FFN_DOWN, layer, 1, 0);
        b.end();
      },
    });
  }
}

// ---------------------------------------------------------------------------------------
// matmul (prefill): X (64, cols) @ W^T (cols, rows) -> out (64, rows)

const xBatch = lazy(() => randomF32(PREFILL * 14336, 15));
const outBatch = lazy(() => new Float32Array(PREFILL * 14336));
const matmulScratch = new Float32Array(MATMUL_ROWS * 14336);

const MATMUL_CASES: { dtype: DType; shape: Shape }[] = [
  { dtype: "bf16", shape: SHAPES[5] }, // 1B 2048x2048
  { dtype: "bf16", shape: SHAPES[6] }, // 1B 512x2048
  { dtype: "bf16", shape: SHAPES[1] }, // 8B 1024x4096
  { dtype: "bf16", shape: SHAPES[0] }, // 8B 4096x4096
  { dtype: "bf16", shape: SHAPES[7] }, // 1B 8192x2048
  { dtype: "bf16", shape: SHAPES[8] }, // 1B 2048x8192
  { dtype: "bf16", shape: SHAPES[2] }, // 8B 14336x4096
  { dtype: "bf16", shape: SHAPES[3] }, // 8B 4096x14336
  { dtype: "f16", shape: SHAPES[5] },
  { dtype: "f32", shape: SHAPES[5] },
];

for (const { dtype, shape } of MATMUL_CASES) {
  const work = projectionWork(dtype, shape, PREFILL);
  const matrix = lazy(() => slotMatrices(dtype, shape)[0]);
  Deno.bench({
    name: benchName(`matmul ${dtype} ${shapeLabel(shape)} x ${PREFILL} tokens`, {
      ...work,
      bound: "flops",
    }),
    group: `matmul ${PREFILL} tokens`,
    ...timing(work.flops / 1e9),
    fn() {
      const out = outBatch();
      matMul(out, 0, shape.rows, matrix(), xBatch(), 0, PREFILL, 0, shape.rows, matmulScratch);
      sink.value += out[0];
    },
  });
}

for (const shape of [SHAPES[5], SHAPES[0]]) {
  const work = projectionWork("bf16", shape, PREFILL);
  for (const workers of new Set([1, ALL])) {
    Deno.bench({
      name: benchName(`matmul bf16 ${shapeLabel(shape)} x ${PREFILL} tokens pool ${workers}`, {
        ...work,
        bound: "flops",
        extra: { workers: String(workers) },
      }),
      group: `matmul ${PREFILL} tokens`,
      ...timing(work.flops / 1e9 / workers),
      async fn(b) {
        const key = `matmul ${shape.rows}x${shape.cols} ${workers}`;
        const { pool } = await poolFor(key, workers, () => projectionInit(shape, PREFILL));
        b.start();
        await pool.run(Op.FFN_DOWN, 0, PREFILL, 0);
        b.end();
      },
    });
  }
}

// ---------------------------------------------------------------------------------------
// Element-wise kernels at model widths.

for (const dim of [4096, 2048]) {
  const x = lazy(() => randomF32(dim, 16));
  const weight = lazy(() => randomF32(dim, 17));
  const out = new Float32Array(dim);
  Deno.bench({
    // n squares and adds, then x · scale · weight.
    name: benchName(`rmsnorm dim=${dim}`, { flops: 4 * dim, bytes: 12 * dim, bound: "flops" }),
    group: "rmsnorm",
    fn() {
      rmsNorm(out, 0, x(), 0, weight(), dim, 1e-5);
      sink.value += out[0];
    },
  });
}

/** The attention geometry of the two models. */
const MODELS = [
  { name: "8B", nHeads: 32, nKvHeads: 8, headDim: 128, nLayers: 32 },
  { name: "1B", nHeads: 32, nKvHeads: 8, headDim: 64, nLayers: 16 },
] as const;

for (const m of MODELS) {
  const table = lazy(() => ropeTable(m.headDim, 500000, true, 8192));
  for (const [what, heads] of [["q", m.nHeads], ["k", m.nKvHeads]] as const) {
    const n = heads * m.headDim;
    const v = lazy(() => randomF32(n, 18));
    let position = 0;
    Deno.bench({
      // Per pair: 4 multiplies, 2 adds; v read and written, one table row of cos and sin.
      name: benchName(`rope ${m.name} ${what}: ${heads} heads x ${m.headDim}`, {
        flops: 3 * n,
        bytes: 8 * n + 4 * m.headDim,
        bound: "flops",
      }),
      group: "rope",
      fn() {
        // Rotations compose, so values stay bounded; walk positions to touch the table.
        rope(v(), 0, heads, table(), position);
        position = (position + 1) & 8191;
      },
    });
  }
}

const SOFTMAX_CASES = [
  { what: "scores ctx=1k", n: 1024, f64: true },
  { what: "scores ctx=8k", n: 8192, f64: true },
  { what: "logits vocab=128256", n: 128256, f64: false },
];

for (const { what, n, f64 } of SOFTMAX_CASES) {
  const x = lazy(() => (f64 ? Float64Array.from(randomF32(n, 19)) : randomF32(n, 19)));
  const size = f64 ? 8 : 4;
  Deno.bench({
    // max, then x - max, exp, sum, then scale: 5 ops per element with exp as 1.
    name: benchName(`softmax ${what} ${f64 ? "f64" : "f32"}`, {
      flops: 5 * n,
      bytes: 2 * size * n,
      bound: "flops",
    }),
    group: "softmax",
    fn() {
      const a = x();
      softmax(a, 0, n);
      sink.value += a[0];
    },
  });
}

for (const hidden of [14336, 8192]) {
  const gate = lazy(() => randomF32(hidden, 20));
  const up = lazy(() => randomF32(hidden, 21));
  const scratch = new Float32Array(hidden);
  Deno.bench({
    // -g, exp, 1 +, divide, multiply: 5 ops per element with exp as 1.
    name: benchName(`swiglu hidden=${hidden}`, {
      flops: 5 * hidden,
      bytes: 12 * hidden,
      bound: "flops",
    }),
    group: "swiglu",
    fn() {
      // swiGlu writes into its first argument: start from the same gate every time.
      scratch.set(gate());
      swiGlu(scratch, up(), 0, hidden);
      sink.value += scratch[0];
    },
  });
}

// ---------------------------------------------------------------------------------------
// Attention of one decoded token at position ctx - 1, every query head.

/**
 * A RunState whose KV caches hold random keys and values for `layers` layers, enough of
 * them (≥ 64 MiB) that rotating through the layers reads from DRAM, as decode does.
 */
function attentionState(m: (typeof MODELS)[number], ctx: number): RunState {
  const kvDim = m.nKvHeads * m.headDim;
  const perLayer = 2 * ctx * kvDim * 4;
  const layers = Math.min(m.nLayers, Math.max(2, Math.ceil((64 * MiB) / perLayer)));
  const state = RunState.allocate({
    dim: m.nHeads * m.headDim,
    kvDim,
    hiddenDim: 1,
    nLayers: layers,
    vocabSize: 1,
    contextLength: ctx,
    maxBatch: 1,
  });
  // Untouched shared pages all map the zero page; write every one so reads go to DRAM.
  state.keyCache.forEach((k, l) => fillRandomF32(k, 100 + l));
  state.valueCache.forEach((v, l) => fillRandomF32(v, 200 + l));
  fillRandomF32(state.q, 22);
  return state;
}

const attentionStates = new Map<string, RunState>();

function attentionStateFor(m: (typeof MODELS)[number], ctx: number): RunState {
  const key = `${m.name} ${ctx}`;
  let state = attentionStates.get(key);
  if (!state) attentionStates.set(key, state = attentionState(m, ctx));
  return state;
}

for (const m of MODELS) {
  for (const ctx of [1024, 8192]) {
    const kvDim = m.nKvHeads * m.headDim;
    const group = m.nHeads / m.nKvHeads;
    const work = {
      // Per head and position: q·k (2·headDim) and the weighted sum of v (2·headDim).
      flops: m.nHeads * ctx * 4 * m.headDim,
      // Keys and values of every position once, q in, out written.
      bytes: 2 * ctx * kvDim * 4 + 2 * m.nHeads * m.headDim * 4,
      bound: "flops" as const,
    };
    const label = `attention ${m.name} ctx=${ctx / 1024}k: ${m.nHeads} heads, ${m.nKvHeads} kv`;
    const scores = new Float64Array(m.nHeads * ctx);
    const sums = new Float64Array(m.nHeads * m.headDim);
    const out = new Float32Array(m.nHeads * m.headDim);
    let i = 0;
    Deno.bench({
      name: benchName(label, work),
      group: "attention (decode, one token)",
      ...timing(work.flops / 1e9),
      fn() {
        const s = attentionStateFor(m, ctx);
        const layer = i++ % s.keyCache.length;
        // Every kv head with its group of query heads in one call, as one thread of the job.
        attend(
          out,
          0,
          s.q,
          0,
          s.keyCache[layer],
          s.valueCache[layer],
          0,
          kvDim,
          m.headDim,
          m.nKvHeads,
          group,
          ctx,
          scores,
          sums,
        );
        sink.value += out[0];
      },
    });
    for (const workers of new Set([1, ALL])) {
      let j = 0;
      Deno.bench({
        name: benchName(`${label} pool ${workers}`, {
          ...work,
          extra: { workers: String(workers) },
        }),
        group: "attention (decode, one token)",
        ...timing(work.flops / 1e9 / workers),
        async fn(b) {
          const key = `attention ${m.name} ${ctx} ${workers}`;
          const { pool, state } = await poolFor(key, workers, () => {
            const state = attentionStateFor(m, ctx);
            // No weights are read by ATTENTION; a one-element matrix satisfies the init.
            const w: MatrixSpec = { dtype: "f32", byteOffset: 0, rows: 1, cols: 1 };
            const init: ModelInit = {
              nHeads: m.nHeads,
              nKvHeads: m.nKvHeads,
              headDim: m.headDim,
              weights: { kind: "buffer", buffer: new SharedArrayBuffer(4) },
              layers: [],
              output: w,
              state: state.buffers,
            };
            return { init, state };
          });
          const layer = j++ % state.keyCache.length;
          b.start();
          await pool.run(Op.ATTENTION, layer, 1, ctx - 1);
          b.end();
        },
      });
    }
  }
}
