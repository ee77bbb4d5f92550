/**
 * What a 64-bit WebAssembly memory costs the kernels: the same decode kernel (bf16 matrix ×
 * vector, 4096 × 4096, rotating through 1 GiB so that weights come from DRAM) and the same
 * prefill kernel (64 tokens) emitted for 32-bit memories and for 64-bit ones, in one run.
 *
 * Deno runs WebAssembly without V8's trap handler, so every load of either kind of memory
 * carries an explicit bounds check (a compare and a branch); the 64-bit address adds nothing to
 * that. Running this file with `--v8-flags=--no-wasm-bounds-checks` (unsafe: for measuring
 * only) shows what the checks themselves cost.
 *
 * Run: `deno bench -A bench/memory_bench.ts`, then
 * `deno bench -A --v8-flags=--no-wasm-bounds-checks bench/memory_bench.ts`.
 *
 * @module
 */

import v8 from "node:v8";
import { ModuleBuilder } from "../lib/wasm/module.ts";
import { DEFAULT_TILES, emitMatMul } from "../lib/kernels/wasm/matmul.ts";
import { lazy, sink } from "./data.ts";
import { benchName } from "./metrics.ts";

const MiB = 2 ** 20;
const ROWS = 4096, COLS = 4096, MATRIX = ROWS * COLS * 2, SLOTS = 48, TOKENS = 64;

/** A weights memory and a state memory of one address size, and the kernel over them. */
function setup(address: "i32" | "i64") {
  const pages = (bytes: number) => Math.ceil(bytes / 65536);
  const memory = (bytes: number) =>
    new WebAssembly.Memory(
      (address === "i64"
        ? { initial: BigInt(pages(bytes)), maximum: BigInt(pages(bytes)), shared: true, address }
        : {
          initial: pages(bytes),
          maximum: pages(bytes),
          shared: true,
        }) as WebAssembly.MemoryDescriptor,
    );
  const weights = memory(SLOTS * MATRIX), state = memory(64 * MiB);
  const words = new Uint32Array(weights.buffer);
  for (let i = 0; i < words.length; i++) words[i] = 0x3c003c00 | (i & 0x807f807f);
  new Float32Array(state.buffer, 0, TOKENS * COLS).fill(0.5);
  const m = new ModuleBuilder();
  const limits = { address, shared: true, minimum: 1, maximum: address === "i64" ? 262144 : 65536 };
  const target = {
    weights: m.importMemory("weights", limits),
    state: m.importMemory("state", limits),
    fma: true,
  };
  emitMatMul(m, target, "bf16", DEFAULT_TILES);
  v8.setFlagsFromString("--no-wasm-dynamic-tiering");
  const instance = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), {
    env: { weights, state },
  });
  const matmul = instance.exports.matmul_bf16 as (...args: (number | bigint)[]) => void;
  const a = (n: number) => (address === "i64" ? BigInt(n) : n);
  return (slot: number, tokens: number) =>
    matmul(a(slot * MATRIX), COLS * 2, COLS, a(0), a(32 * MiB), ROWS, tokens, 0, ROWS, a(48 * MiB));
}

const kinds = { i32: lazy(() => setup("i32")), i64: lazy(() => setup("i64")) };

for (const address of ["i32", "i64"] as const) {
  let slot = 0;
  Deno.bench({
    name: benchName(`matvec bf16 4096x4096, ${address === "i64" ? "64" : "32"}-bit memory`, {
      bytes: MATRIX,
      bound: "bytes",
    }),
    group: "matvec: memory32 vs memory64",
    fn() {
      kinds[address]()(slot++ % SLOTS, 1);
      sink.value++;
    },
  });
}
for (const address of ["i32", "i64"] as const) {
  Deno.bench({
    name: benchName(
      `matmul bf16 4096x4096 x ${TOKENS} tokens, ${address === "i64" ? "64" : "32"}-bit memory`,
      {
        flops: 2 * ROWS * COLS * TOKENS,
        bound: "flops",
      },
    ),
    group: "matmul: memory32 vs memory64",
    n: 10,
    warmup: 2,
    fn() {
      kinds[address]()(0, TOKENS);
      sink.value++;
    },
  });
}
