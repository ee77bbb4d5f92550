/**
 * The choices behind the WebAssembly kernels, measured in one run: the same decode kernel
 * (bf16 matrix × vector, 4096 × 4096, rotating through 1.5 GiB so that weights come from DRAM)
 * and the same prefill kernel (64 tokens) emitted
 *
 * - for 32-bit memories and for 64-bit ones (what memory64 costs),
 * - with relaxed SIMD's fused multiply-add and with a multiply and an add,
 * - with other tile shapes than the default.
 *
 * Deno runs WebAssembly without V8's trap handler, so every load of either kind of memory
 * carries an explicit bounds check (a compare and a branch); the 64-bit address adds nothing to
 * that. Running this file with `--v8-flags=--no-wasm-bounds-checks` (unsafe: for measuring
 * only) shows what the checks themselves cost.
 *
 * Each variant has its own 768 MiB of weights; run a group at a time, e.g.
 * `deno bench -A --filter memory bench/variants_bench.ts`, then
 * `deno bench -A --v8-flags=--no-wasm-bounds-checks --filter memory bench/variants_bench.ts`.
 *
 * @module
 */

import v8 from "node:v8";
import { ModuleBuilder } from "../lib/wasm/module.ts";
import { DEFAULT_TILES, emitMatMul, type TilePlan } from "../lib/kernels/wasm/matmul.ts";
import { lazy, sink } from "./data.ts";
import { benchName } from "./metrics.ts";

const MiB = 2 ** 20;
const ROWS = 4096, COLS = 4096, MATRIX = ROWS * COLS * 2, SLOTS = 24, TOKENS = 64;

/** One way of emitting the kernel. */
interface Variant {
  readonly address: "i32" | "i64";
  readonly fma: boolean;
  readonly tiles: TilePlan;
}

/** A weights memory and a state memory of one address size, and the kernel over them. */
function setup({ address, fma, tiles }: Variant) {
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
    fma,
    address,
  };
  emitMatMul(m, target, "bf16", tiles);
  v8.setFlagsFromString("--no-wasm-dynamic-tiering");
  const instance = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), {
    env: { weights, state },
  });
  const matmul = instance.exports.matmul_bf16 as (...args: (number | bigint)[]) => void;
  const a = (n: number) => (address === "i64" ? BigInt(n) : n);
  return (slot: number, tokens: number) =>
    matmul(a(slot * MATRIX), COLS * 2, COLS, a(0), a(32 * MiB), ROWS, tokens, 0, ROWS, a(48 * MiB));
}

const VARIANTS: Array<[string, string, Variant]> = [
  ["memory", "64-bit memory", { address: "i64", fma: true, tiles: DEFAULT_TILES.bf16 }],
  ["memory", "32-bit memory", { address: "i32", fma: true, tiles: DEFAULT_TILES.bf16 }],
  ["multiply-add", "relaxed_madd", { address: "i64", fma: true, tiles: DEFAULT_TILES.bf16 }],
  ["multiply-add", "mul + add", { address: "i64", fma: false, tiles: DEFAULT_TILES.bf16 }],
  ["tiles", "5x2 tiles, 4 rows per vector", {
    address: "i64",
    fma: true,
    tiles: DEFAULT_TILES.bf16,
  }],
  ["tiles", "3x3 tiles, 8 rows per vector", {
    address: "i64",
    fma: true,
    tiles: { rows: 3, tokens: 3, vectorRows: 8 },
  }],
  ["tiles", "2x4 tiles, 2 rows per vector", {
    address: "i64",
    fma: true,
    tiles: { rows: 2, tokens: 4, vectorRows: 2 },
  }],
];

for (const [group, label, variant] of VARIANTS) {
  const kernel = lazy(() => setup(variant));
  let slot = 0;
  Deno.bench({
    name: benchName(`matvec bf16 4096x4096, ${label}`, { bytes: MATRIX, bound: "bytes" }),
    group: `matvec: ${group}`,
    fn() {
      kernel()(slot++ % SLOTS, 1);
      sink.value++;
    },
  });
  Deno.bench({
    name: benchName(`matmul bf16 4096x4096 x ${TOKENS} tokens, ${label}`, {
      flops: 2 * ROWS * COLS * TOKENS,
      bound: "flops",
    }),
    group: `matmul: ${group}`,
    n: 10,
    warmup: 2,
    fn() {
      kernel()(0, TOKENS);
      sink.value++;
    },
  });
}
