/**
 * Whether `i32x4.relaxed_dot_i8x16_i7x16_add_s` is fast here: one `vpdpbusd` where V8 has
 * AVX-VNNI (measured 1.8× faster per dot product than `pmaddubsw` with its widening and add, on a
 * Xeon with AVX-VNNI), five instructions where it has not (an AMD Zen 4, which has only AVX-512
 * VNNI, ran it slower than `pmaddubsw`). JavaScript cannot read the processor's features
 * (`/proc/cpuinfo` needs `--allow-all` in Deno), so this times the two forms on registers, a
 * few milliseconds, once per process. Both give the same exact integer sums: the choice
 * changes speed, never results.
 *
 * @example
 * ```ts
 * import { dotAddIsFast } from "./dot_add_probe.ts";
 *
 * dotAddIsFast(); // true on processors with AVX-VNNI
 * ```
 *
 * @module
 */

import v8 from "node:v8";
import { ModuleBuilder } from "../../wasm/module.ts";
import { i16x8, i32, i32x4, v128 } from "../../wasm/ops.ts";

/** Independent dot products per step: enough to hide the instructions' latency. */
const CHAINS = 8;
const STEPS = 100_000;
const ROUNDS = 5;
const KINDS = ["dot_add", "maddubs", "base"] as const;

/**
 * Emits `dot_add(n)` and `maddubs(n)`: `n` steps of {@linkcode CHAINS} dot products each, and
 * `base(n)`: the same loop with an addition in place of each dot product, whose time is taken
 * off the other two so that the comparison is of the dot products alone.
 */
function probeModule(): WebAssembly.Module {
  const m = new ModuleBuilder();
  for (const kind of KINDS) {
    m.func(kind, { n: "i32" }, "i32", (f, p) => {
      const i = f.local("i", "i32"), a = f.local("a", "v128");
      const acc = Array.from({ length: CHAINS }, (_, k) => f.local(`acc${k}`, "v128"));
      const b = Array.from({ length: CHAINS }, (_, k) => f.local(`b${k}`, "v128"));
      f.set(a, v128.i32x4(0x01020304));
      b.forEach((bk, k) => f.set(bk, v128.i32x4(0x05060708 + k)));
      f.forRange(i, i32.const(0), p.n, 1, () => {
        acc.forEach((c, k) => {
          // A new operand every step, so that no product can be computed once outside the loop.
          f.set(b[k], i32x4.add(b[k], a));
          f.set(
            c,
            kind === "dot_add"
              ? i32x4.relaxedDotI8x16I7x16AddS(a, b[k], c)
              : kind === "maddubs"
              ? i32x4.add(c, i32x4.extaddPairwiseI16x8S(i16x8.relaxedDotI8x16I7x16S(a, b[k])))
              : i32x4.add(c, b[k]),
          );
        });
      });
      let sum = i32x4.add(acc[0], acc[1]);
      for (const c of acc.slice(2)) sum = i32x4.add(sum, c);
      f.return(i32x4.extractLane(sum, 0));
    });
  }
  return new WebAssembly.Module(m.encode());
}

let fast: boolean | undefined;

/**
 * Times both forms and the loop alone, taking turns, and keeps each one's fastest round.
 *
 * @returns True when the dot product with accumulation took under 0.9 of the time of
 *   `pmaddubsw` with its widening and add (measured 0.55–0.71 with AVX-VNNI; five instructions
 *   against three without it; false where relaxed SIMD does not validate).
 */
export function dotAddIsFast(): boolean {
  if (fast === undefined) {
    fast = false;
    try {
      // Optimized code from the start, as the kernel module is compiled (`compileKernels`):
      // timing V8's baseline code would measure its compiler, not the instructions.
      v8.setFlagsFromString("--no-wasm-dynamic-tiering");
      const module = probeModule();
      const exports = new WebAssembly.Instance(module).exports as Record<
        (typeof KINDS)[number],
        (n: number) => number
      >;
      for (const kind of KINDS) exports[kind](1000);
      const best = { dot_add: Infinity, maddubs: Infinity, base: Infinity };
      for (let round = 0; round < ROUNDS; round++) {
        for (const kind of KINDS) {
          const started = performance.now();
          exports[kind](STEPS);
          best[kind] = Math.min(best[kind], performance.now() - started);
        }
      }
      fast = best.dot_add - best.base < 0.9 * (best.maddubs - best.base);
    } catch {
      // relaxed SIMD does not validate: the portable form
    }
  }
  return fast;
}
