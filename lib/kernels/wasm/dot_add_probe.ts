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

import { ModuleBuilder } from "../../wasm/module.ts";
import { i16x8, i32, i32x4, v128 } from "../../wasm/ops.ts";

/** Independent dot products per step: enough to hide the instructions' latency. */
const CHAINS = 8;
const STEPS = 20_000;
const ROUNDS = 7;

/** Emits `dot_add(n)` and `maddubs(n)`: `n` steps of {@linkcode CHAINS} dot products each. */
function probeModule(): WebAssembly.Module {
  const m = new ModuleBuilder();
  for (const kind of ["dot_add", "maddubs"] as const) {
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
              : i32x4.add(c, i32x4.extaddPairwiseI16x8S(i16x8.relaxedDotI8x16I7x16S(a, b[k]))),
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
 * Times both forms, alternating, and keeps each one's fastest round.
 *
 * @returns True when the dot product with accumulation took under 0.85 of the time of
 *   `pmaddubsw` with its widening and add (false where relaxed SIMD does not validate).
 */
export function dotAddIsFast(): boolean {
  if (fast === undefined) {
    fast = false;
    try {
      const exports = new WebAssembly.Instance(probeModule()).exports as Record<
        "dot_add" | "maddubs",
        (n: number) => number
      >;
      const best = { dot_add: Infinity, maddubs: Infinity };
      for (let round = 0; round < ROUNDS; round++) {
        for (const kind of ["dot_add", "maddubs"] as const) {
          const started = performance.now();
          exports[kind](STEPS);
          best[kind] = Math.min(best[kind], performance.now() - started);
        }
      }
      fast = best.dot_add < 0.85 * best.maddubs;
    } catch {
      // relaxed SIMD does not validate: the portable form
    }
  }
  return fast;
}
