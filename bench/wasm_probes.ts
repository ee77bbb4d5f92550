/**
 * Two tiny WebAssembly kernels that measure the machine rather than llama-bolts: how fast one
 * thread reads memory with SIMD loads, and how many SIMD multiply-adds a core completes when
 * nothing waits for memory. `wasm_ceiling_bench.ts` runs them on one and on every thread; they
 * are the roofs the real kernels are compared with.
 *
 * @module
 */

import { ModuleBuilder } from "../lib/wasm/module.ts";
import { f32x4, i32, i32x4, i64, v128 } from "../lib/wasm/ops.ts";

/** Streams read at once: several rows in flight keep the hardware prefetchers busy. */
export const STREAMS = 4;
/** Independent multiply-add chains: enough to hide the instruction's latency. */
export const CHAINS = 10;

/**
 * `read(p, bytes)`: sums `bytes` bytes from `p` as 32-bit integers, split in {@linkcode STREAMS}
 * consecutive ranges read side by side (two 16-byte loads per stream per step).
 * `fma(n)`: `n` steps of {@linkcode CHAINS} independent `f32x4.relaxed_madd`s on registers.
 *
 * @returns The module, importing `env.memory` (shared, 64-bit).
 */
export function probeModule(): WebAssembly.Module {
  const m = new ModuleBuilder();
  const mem = m.importMemory("memory", {
    address: "i64",
    shared: true,
    minimum: 1,
    maximum: 262144,
  });
  m.func("read", { p: "i64", bytes: "i64" }, "i32", (f, { p, bytes }) => {
    const acc = Array.from({ length: STREAMS }, (_, k) => f.local(`acc${k}`, "v128"));
    const ptr = Array.from({ length: STREAMS }, (_, k) => f.local(`p${k}`, "i64"));
    const quarter = f.local("quarter", "i64"), end = f.local("end", "i64");
    f.set(quarter, i64.shrU(bytes, i64.const(Math.log2(STREAMS))));
    for (let k = 0; k < STREAMS; k++) f.set(ptr[k], i64.add(p, i64.mul(quarter, i64.const(k))));
    f.set(end, i64.add(p, quarter));
    f.loop("step", () => {
      for (let k = 0; k < STREAMS; k++) {
        f.set(
          acc[k],
          i32x4.add(acc[k], i32x4.add(v128.load(mem, ptr[k]), v128.load(mem, ptr[k], 16))),
        );
        f.set(ptr[k], i64.add(ptr[k], i64.const(32)));
      }
      f.brIf("step", i64.ltU(ptr[0], end));
    });
    let sum = acc[0] as ReturnType<typeof i32x4.add>;
    for (const a of acc.slice(1)) sum = i32x4.add(sum, a);
    f.return(i32x4.extractLane(sum, 0));
  }, `Reads memory through ${STREAMS} streams at once.`);
  m.func("fma", { n: "i32" }, "f32", (f, { n }) => {
    const acc = Array.from({ length: CHAINS }, (_, k) => f.local(`acc${k}`, "v128"));
    const a = f.local("a", "v128"), b = f.local("b", "v128"), i = f.local("i", "i32");
    f.set(a, v128.f32x4(0.999999));
    f.set(b, v128.f32x4(1e-7));
    f.forRange(i, i32.const(0), n, 1, () => {
      for (const c of acc) f.set(c, f32x4.relaxedMadd(c, a, b));
    });
    let sum = acc[0] as ReturnType<typeof f32x4.add>;
    for (const c of acc.slice(1)) sum = f32x4.add(sum, c);
    f.return(f32x4.extractLane(sum, 0));
  }, `${CHAINS} independent chains of f32x4 multiply-adds.`);
  return new WebAssembly.Module(m.encode());
}

/** The probe functions of one instance. */
export interface Probes {
  read(p: bigint, bytes: bigint): number;
  fma(n: number): number;
}

/**
 * Instantiates the probes over a memory.
 *
 * @param module From {@linkcode probeModule}.
 * @param memory A shared 64-bit memory.
 * @returns The two functions.
 */
export function instantiateProbes(module: WebAssembly.Module, memory: WebAssembly.Memory): Probes {
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Probes;
}
