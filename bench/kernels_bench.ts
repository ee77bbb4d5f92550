/**
 * Every heavy kernel at the shapes of Llama 3.1 8B and Llama 3.2 1B, on both backends side by
 * side (`[wasm]`: the WebAssembly SIMD kernels, `[ts]`: the plain TypeScript ones), called
 * directly on one thread and through the pool with every core.
 *
 * - **matvec**: decode, one token through a weight matrix (bf16, f16, f32 weights).
 * - **matmul**: prefill, 64 tokens through a weight matrix.
 * - **blocks**: ggml's block types (Q8_0 … Q6_K) at 4096×4096 and the 1B's 8192×2048, decode
 *   and prefill, on one thread and through the pool, beside bf16; Q8_0 and Q4_0 also with
 *   float32 activations (`[wasm f32x]`), the alternative to 8-bit activations.
 * - **attention**: one decoded token over a KV cache of 1k and 8k positions, every query head.
 * - **rmsnorm**, **rope**, **softmax**, **swiglu**: the cheap steps that stay in TypeScript.
 *
 * During decode every weight byte comes from DRAM: the model is far larger than the L3 cache.
 * A bench that ran one 8 MiB matrix over and over would read it from cache instead, so matrix
 * benches rotate through a 1 GiB region (one matrix-sized slot per iteration) of a weights
 * memory like the model's, and attention benches through two layers' KV caches (≥ 64 MiB).
 * Its bits are normal numbers read as either bf16 or f16.
 *
 * Names follow `bench/metrics.ts`; `deno task bench:report` turns them into GB/s, GFLOP/s and
 * the percentage of this run's ceilings (`ceiling_bench.ts`, `wasm_ceiling_bench.ts`).
 * Multiply-adds count 2 FLOPs.
 *
 * Run: `deno task bench bench/kernels_bench.ts`, or with a filter, e.g.
 * `deno task bench --filter "matvec bf16" bench/kernels_bench.ts`.
 *
 * @module
 */

import type { BackendName, KernelBackend, MatrixRef } from "../lib/kernels/backend.ts";
import { rmsNorm } from "../lib/kernels/rmsnorm.ts";
import { rope, ropeTable } from "../lib/kernels/rope.ts";
import { swiGlu } from "../lib/kernels/silu.ts";
import { softmax } from "../lib/kernels/softmax.ts";
import {
  attention,
  createBackend,
  encodeSteps,
  matMul,
  STEP_WORKER_URL,
  stepRunner,
  type StepsInit,
} from "../lib/kernels/steps.ts";
import { compileKernels } from "../lib/kernels/wasm/kernels.ts";
import { RunState } from "../lib/model/run_state.ts";
import { Pool } from "../lib/parallel/pool.ts";
import {
  type BlockStorageType,
  type FloatStorageType,
  storageBytes,
  type StorageType,
} from "../lib/tensor/storage.ts";
import { fillRandomF32, lazy, randomF32, sink } from "./data.ts";
import { benchName } from "./metrics.ts";

const MiB = 1024 * 1024;
/** Tokens in one prefill chunk for the matmul benches. */
const PREFILL = 64;
/** All CPUs, for the pool benches. */
const ALL = navigator.hardwareConcurrency;
const BACKENDS: readonly BackendName[] = ["wasm", "ts"];

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

/**
 * Iteration counts for slow benches: Deno's default runs a bench for about half a second
 * after a warm-up of similar length. `seconds` is a pessimistic estimate of one iteration.
 */
function timing(seconds: number): { n?: number; warmup?: number } {
  if (seconds < 0.02) return {};
  return { n: Math.max(3, Math.min(10, Math.round(1.5 / seconds))), warmup: 1 };
}

// ---------------------------------------------------------------------------------------
// The weights memory: 1002 MiB of 16-bit weights (the 8B classifier in bf16), 256 MiB of f32.

const HALF_BYTES = 128256 * 4096 * 2;
const F32_BYTES = 256 * MiB;

// (Its bytes also serve as blocks of ggml's types: every 16-bit scale field is a normal float16.)
const weights = lazy(() => {
  const pages = Math.ceil((HALF_BYTES + F32_BYTES) / 65536);
  const memory = new WebAssembly.Memory({
    initial: BigInt(pages),
    maximum: BigInt(pages),
    shared: true,
    address: "i64",
  } as unknown as WebAssembly.MemoryDescriptor);
  // Normal bf16 bit patterns (std ≈ 0.03); read as f16 they are normal numbers as well.
  const halves = new Uint32Array(memory.buffer, 0, HALF_BYTES / 4);
  let s = 11;
  for (let i = 0; i < halves.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    halves[i] = (s & 0x807f807f) | 0x3c003c00;
  }
  new Float32Array(memory.buffer, HALF_BYTES, F32_BYTES / 4).set(randomF32(F32_BYTES / 4, 12));
  return memory;
});

/** Matrix-sized slots of one type, one after another. */
function slots(type: StorageType, shape: Shape): MatrixRef[] {
  const [base, total] = type === "f32" ? [HALF_BYTES, F32_BYTES] : [0, HALF_BYTES];
  const bytes = shape.rows * storageBytes(type, shape.cols);
  const count = Math.max(1, Math.floor(total / bytes));
  return Array.from({ length: count }, (_, k) => ({
    type,
    byteOffset: base + k * bytes,
    rows: shape.rows,
    cols: shape.cols,
  }));
}

/** Work of `tokens` tokens through a `shape` matrix: weights read once, x and out once. */
function projectionWork(type: StorageType, shape: Shape, tokens: number) {
  const { rows, cols } = shape;
  return {
    flops: 2 * tokens * rows * cols,
    bytes: rows * storageBytes(type, cols) + tokens * (cols + rows) * 4,
  };
}

// ---------------------------------------------------------------------------------------
// State: activations for 64 tokens of the widest matrix, logits, two layers of KV cache.

/** The attention geometry of the two models. */
const MODELS = [
  { name: "8B", nHeads: 32, nKvHeads: 8, headDim: 128 },
  { name: "1B", nHeads: 32, nKvHeads: 8, headDim: 64 },
] as const;

const CONTEXT = 8192;

const state = lazy(() => {
  const s = RunState.allocate({
    dim: 14336,
    kvDim: 1024,
    hiddenDim: 14336,
    nLayers: 2,
    nHeads: 32,
    vocabSize: 128256,
    contextLength: CONTEXT,
    maxBatch: PREFILL,
    threads: ALL,
  });
  // Untouched pages all map the zero page; write every one so that reads go to DRAM.
  for (const b of [s.x, s.xb, s.hb, s.q, ...s.keyCache, ...s.valueCache]) {
    fillRandomF32(b.view, b.byteOffset + 1);
  }
  return s;
});

/** A backend, or the WebAssembly one with float32 activations for Q8_0 and Q4_0 (`f32x`). */
type Variant = BackendName | "f32x";

function init(variant: Variant): StepsInit {
  const s = state();
  const backend: BackendName = variant === "ts" ? "ts" : "wasm";
  return {
    backend,
    weights: weights(),
    state: s.memory,
    module: variant === "f32x"
      ? compileKernels({ blockActivations: "f32" })
      : backend === "wasm"
      ? compileKernels()
      : undefined,
    scratch: s.scratch,
    maxScores: 32 * CONTEXT,
    maxCols: 14336,
  };
}

const backends = new Map<Variant, KernelBackend>();
function backendOf(name: Variant): KernelBackend {
  let b = backends.get(name);
  if (b === undefined) {
    const i = init(name);
    backends.set(name, b = createBackend(i.backend, { ...i, scratch: i.scratch[0] }));
  }
  return b;
}

const pools = new Map<Variant, Promise<Pool>>();
function poolOf(name: Variant): Promise<Pool> {
  let p = pools.get(name);
  if (p === undefined) {
    const i = init(name);
    p = Pool.start({ threads: ALL, runner: stepRunner(i, 0), workerUrl: STEP_WORKER_URL, init: i });
    pools.set(name, p);
  }
  return p;
}
globalThis.addEventListener("unload", async () => {
  for (const p of pools.values()) (await p).close();
});

// ---------------------------------------------------------------------------------------
// matvec: W (rows, cols) @ x (cols,) -> out (rows,)

const MATVEC_TYPES: Array<[FloatStorageType, readonly Shape[]]> = [
  ["bf16", SHAPES],
  ["f16", [SHAPES[0], SHAPES[7]]],
  ["f32", [SHAPES[0], SHAPES[7]]],
];

for (const backend of BACKENDS) {
  for (const [type, shapes] of MATVEC_TYPES) {
    for (const shape of shapes) {
      const work = projectionWork(type, shape, 1);
      const matrices = lazy(() => slots(type, shape));
      let i = 0;
      Deno.bench({
        name: benchName(`matvec ${type} ${shapeLabel(shape)} [${backend}]`, {
          ...work,
          bound: "bytes",
        }),
        group: `matvec ${type}`,
        ...timing(work.bytes / (backend === "wasm" ? 8e9 : 3e9)),
        fn() {
          const m = matrices(), s = state();
          backendOf(backend).matMul(
            m[i++ % m.length],
            s.xb.byteOffset,
            s.logits.byteOffset,
            shape.rows,
            1,
            0,
            shape.rows,
          );
          sink.value += s.logits.view[0];
        },
      });
    }
  }
  for (const shape of [SHAPES[0], SHAPES[2], SHAPES[4], SHAPES[7], SHAPES[9]]) {
    const work = projectionWork("bf16", shape, 1);
    const matrices = lazy(() => slots("bf16", shape));
    let i = 0;
    Deno.bench({
      name: benchName(`matvec bf16 ${shapeLabel(shape)} [${backend}] pool ${ALL}`, {
        ...work,
        bound: "bytes",
        extra: { threads: String(ALL) },
      }),
      group: "matvec bf16 through the pool",
      ...timing(work.bytes / (backend === "wasm" ? 1.6e10 : 6e9)),
      async fn(b) {
        const pool = await poolOf(backend), s = state(), m = matrices();
        const job = encodeSteps([matMul(s.logits, s.xb, m[i++ % m.length], 1)]);
        b.start();
        await pool.run(job);
        b.end();
      },
    });
  }
}

// ---------------------------------------------------------------------------------------
// matmul (prefill): X (64, cols) @ W^T (cols, rows) -> out (64, rows)

const MATMUL_CASES: { type: FloatStorageType; shape: Shape }[] = [
  { type: "bf16", shape: SHAPES[5] }, // 1B 2048x2048
  { type: "bf16", shape: SHAPES[7] }, // 1B 8192x2048
  { type: "bf16", shape: SHAPES[8] }, // 1B 2048x8192
  { type: "bf16", shape: SHAPES[0] }, // 8B 4096x4096
  { type: "bf16", shape: SHAPES[3] }, // 8B 4096x14336
  { type: "f16", shape: SHAPES[5] },
  { type: "f32", shape: SHAPES[5] },
];

for (const backend of BACKENDS) {
  for (const { type, shape } of MATMUL_CASES) {
    const work = projectionWork(type, shape, PREFILL);
    const matrix = lazy(() => slots(type, shape)[0]);
    Deno.bench({
      name: benchName(`matmul ${type} ${shapeLabel(shape)} x ${PREFILL} tokens [${backend}]`, {
        ...work,
        bound: "flops",
      }),
      group: `matmul ${PREFILL} tokens`,
      ...timing(work.flops / (backend === "wasm" ? 1.5e10 : 4e9)),
      fn() {
        const s = state();
        backendOf(backend).matMul(
          matrix(),
          s.hb.byteOffset,
          s.q.byteOffset,
          shape.rows,
          PREFILL,
          0,
          shape.rows,
        );
        sink.value += s.q.view[0];
      },
    });
  }
  for (const shape of [SHAPES[5], SHAPES[0]]) {
    const work = projectionWork("bf16", shape, PREFILL);
    const matrix = lazy(() => slots("bf16", shape)[0]);
    Deno.bench({
      name: benchName(
        `matmul bf16 ${shapeLabel(shape)} x ${PREFILL} tokens [${backend}] pool ${ALL}`,
        {
          ...work,
          bound: "flops",
          extra: { threads: String(ALL) },
        },
      ),
      group: `matmul ${PREFILL} tokens`,
      ...timing(work.flops / (backend === "wasm" ? 3e10 : 8e9)),
      async fn(b) {
        const pool = await poolOf(backend), s = state();
        const job = encodeSteps([matMul(s.q, s.hb, matrix(), PREFILL)]);
        b.start();
        await pool.run(job);
        b.end();
      },
    });
  }
}

// ---------------------------------------------------------------------------------------
// Block types: decode (1 token) and prefill (64 tokens), one thread and the pool, beside bf16.

const BLOCK_TYPES: readonly BlockStorageType[] = ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];
const BLOCK_CASES: Array<[StorageType, Variant]> = [
  ["bf16", "wasm"],
  ...BLOCK_TYPES.map((t): [StorageType, Variant] => [t, "wasm"]),
  ["q8_0", "f32x"],
  ["q4_0", "f32x"],
];

for (const shape of [SHAPES[0], SHAPES[7]]) {
  for (const [type, variant] of BLOCK_CASES) {
    for (const tokens of [1, PREFILL]) {
      const work = projectionWork(type, shape, tokens);
      const matrices = lazy(() => slots(type, shape));
      const what = tokens === 1 ? "decode" : `prefill ${tokens} tokens`;
      const label = `blocks ${what} ${type} ${shapeLabel(shape)} [${variant}]`;
      const bound = tokens === 1 ? "bytes" as const : "flops" as const;
      const estimate = tokens === 1 ? work.bytes / 6e9 : work.flops / 2e10;
      let i = 0, j = 0;
      Deno.bench({
        name: benchName(label, { ...work, bound }),
        group: `blocks ${what} ${shape.rows}x${shape.cols}`,
        ...timing(estimate),
        fn() {
          const m = matrices(), s = state();
          const [x, out] = tokens === 1 ? [s.xb, s.logits] : [s.hb, s.q];
          backendOf(variant).matMul(
            m[i++ % m.length],
            x.byteOffset,
            out.byteOffset,
            shape.rows,
            tokens,
            0,
            shape.rows,
          );
          sink.value += out.view[0];
        },
      });
      Deno.bench({
        name: benchName(`${label} pool ${ALL}`, {
          ...work,
          bound,
          extra: { threads: String(ALL) },
        }),
        group: `blocks ${what} ${shape.rows}x${shape.cols}`,
        ...timing(estimate / ALL),
        async fn(b) {
          const pool = await poolOf(variant), s = state(), m = matrices();
          const [x, out] = tokens === 1 ? [s.xb, s.logits] : [s.hb, s.q];
          const job = encodeSteps([matMul(out, x, m[j++ % m.length], tokens)]);
          b.start();
          await pool.run(job);
          b.end();
        },
      });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Attention of one decoded token at position ctx - 1, every query head.

for (const backend of BACKENDS) {
  for (const m of MODELS) {
    for (const ctx of [1024, 8192]) {
      const kvDim = m.nKvHeads * m.headDim;
      const work = {
        // Per head and position: q·k (2·headDim) and the weighted sum of v (2·headDim).
        flops: m.nHeads * ctx * 4 * m.headDim,
        // Keys and values of every position once, q in, out written.
        bytes: 2 * ctx * kvDim * 4 + 2 * m.nHeads * m.headDim * 4,
        bound: "flops" as const,
      };
      const label = `attention ${m.name} ctx=${ctx / 1024}k: ${m.nHeads} heads, ${m.nKvHeads} kv`;
      let i = 0;
      Deno.bench({
        name: benchName(`${label} [${backend}]`, work),
        group: "attention (decode, one token)",
        ...timing(work.flops / (backend === "wasm" ? 8e9 : 2e9)),
        fn() {
          const s = state(), layer = i++ % 2;
          backendOf(backend).attention(
            s.q.byteOffset,
            s.xb.byteOffset,
            s.keyCache[layer].byteOffset,
            s.valueCache[layer].byteOffset,
            kvDim,
            m.headDim,
            m.nKvHeads,
            m.nHeads / m.nKvHeads,
            ctx,
          );
          sink.value += s.xb.view[0];
        },
      });
      let j = 0;
      Deno.bench({
        name: benchName(`${label} [${backend}] pool ${ALL}`, {
          ...work,
          extra: { threads: String(ALL) },
        }),
        group: "attention (decode, one token)",
        ...timing(work.flops / (backend === "wasm" ? 1.6e10 : 4e9)),
        async fn(b) {
          const pool = await poolOf(backend), s = state(), layer = j++ % 2;
          const job = encodeSteps([
            attention(s.xb, s.q, s.keyCache[layer], s.valueCache[layer], m, 1, ctx - 1),
          ]);
          b.start();
          await pool.run(job);
          b.end();
        },
      });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Element-wise kernels at model widths (TypeScript on the calling thread).

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

{
  const n = 128256;
  const x = lazy(() => randomF32(n, 19));
  Deno.bench({
    // max, then x - max, exp, sum, then scale: 5 ops per element with exp as 1.
    name: benchName(`softmax logits vocab=${n} f32`, {
      flops: 5 * n,
      bytes: 8 * n,
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
