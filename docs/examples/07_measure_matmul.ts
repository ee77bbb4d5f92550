/**
 * Chapter 7's worked example: measures, on this machine and one thread, the kernel that runs
 * every weight matrix, at the 8B's 4096 × 4096 shape (`wq`, `wo`), on both backends:
 *
 * - decode, 1 token: bytes of weights streamed per second (GB/s);
 * - prefill, 64 tokens: multiply-adds per second (GFLOP/s, a multiply-add counting 2).
 *
 * The matrices rotate through 128 MiB, far more than the caches hold, so decode reads its
 * weights from memory as it does on a real model. A quick look, not a benchmark: for careful
 * numbers run `deno task bench` and `deno task bench:report` (`bench/kernels_bench.ts`).
 *
 * ```sh
 * deno run --allow-read --allow-env --allow-ffi docs/examples/07_measure_matmul.ts
 * ```
 *
 * @module
 */

import type { BackendName, KernelBackend, MatrixRef } from "../../lib/kernels/backend.ts";
import { createBackend } from "../../lib/kernels/steps.ts";
import { compileKernels } from "../../lib/kernels/wasm/kernels.ts";

const ROWS = 4096, COLS = 4096, TOKENS = 64;
const MATRIX_BYTES = ROWS * COLS * 2; // bf16
const SLOTS = 4; // 4 × 32 MiB = 128 MiB of weights
const PAGE = 65536;

function sharedMemory(bytes: number): WebAssembly.Memory {
  const pages = BigInt(Math.ceil(bytes / PAGE));
  return new WebAssembly.Memory(
    {
      initial: pages,
      maximum: pages,
      shared: true,
      address: "i64",
    } as unknown as WebAssembly.MemoryDescriptor,
  );
}

// Weights: random bf16 of magnitude 2^-8 .. 2^-7 with random signs (no NaN, no infinity).
const weights = sharedMemory(SLOTS * MATRIX_BYTES);
const words = new Uint32Array(weights.buffer);
let seed = 12345;
for (let i = 0; i < words.length; i++) {
  seed = (Math.imul(seed, 1103515245) + 12345) | 0;
  words[i] = (seed & 0x807f807f) | 0x3b803b80;
}
// State: inputs X (64, 4096), outputs (64, 4096), the kernel's scratch.
const floats = TOKENS * COLS;
const state = sharedMemory(3 * 4 * floats);
const x = new Float32Array(state.buffer, 0, floats);
for (let i = 0; i < floats; i++) x[i] = Math.sin(i);
const init = {
  weights,
  state,
  module: compileKernels(),
  scratch: { byteOffset: 2 * 4 * floats, byteLength: 4 * floats },
  maxScores: 0,
  maxCols: COLS,
};
const slot = (i: number): MatrixRef => ({
  type: "bf16",
  byteOffset: (i % SLOTS) * MATRIX_BYTES,
  rows: ROWS,
  cols: COLS,
});

/** Median seconds of one call, over calls for about `budget` seconds after a warm-up. */
function time(run: (i: number) => void, budget: number): number {
  run(0);
  const times: number[] = [];
  const start = performance.now();
  for (let i = 1; performance.now() - start < budget * 1000 || times.length < 3; i++) {
    const t0 = performance.now();
    run(i);
    times.push((performance.now() - t0) / 1000);
  }
  return times.sort((a, b) => a - b)[times.length >> 1];
}

console.log(`bf16 ${ROWS} × ${COLS} on one thread (median of repeated calls)`);
for (const name of ["wasm", "ts"] as BackendName[]) {
  const backend: KernelBackend = createBackend(name, { backend: name, ...init });
  const decode = time((i) => backend.matMul(slot(i), 0, 4 * floats, ROWS, 1, 0, ROWS), 0.2);
  // The TypeScript kernel is slow at prefill: time a slice of the rows (same rate).
  const rows = name === "wasm" ? ROWS : ROWS / 32;
  const prefill = time(
    (i) => backend.matMul(slot(i), 0, 4 * floats, ROWS, TOKENS, 0, rows),
    name === "wasm" ? 0.2 : 0.05,
  ) * (ROWS / rows);
  const label = name === "wasm" ? "WebAssembly SIMD" : "TypeScript      ";
  console.log(
    `  ${label}  decode 1 token: ${(decode * 1000).toFixed(2).padStart(6)} ms, ` +
      `${(MATRIX_BYTES / decode / 1e9).toFixed(1).padStart(4)} GB/s   ` +
      `prefill ${TOKENS} tokens: ${(prefill * 1000).toFixed(1).padStart(5)} ms, ` +
      `${(2 * TOKENS * ROWS * COLS / prefill / 1e9).toFixed(1).padStart(4)} GFLOP/s`,
  );
}
