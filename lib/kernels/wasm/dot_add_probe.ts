/**
 * Whether `i32x4.relaxed_dot_i8x16_i7x16_add_s` is fast here: one `vpdpbusd` where V8 has
 * AVX-VNNI, three instructions (`pmaddubsw`, `pmaddwd`, `paddd`) where it has not, as on an AMD
 * Zen 4, which has only AVX-512 VNNI. JavaScript cannot read the processor's features
 * (`/proc/cpuinfo` needs `--allow-all` in Deno), so this times, on registers, once per process
 * (~10 ms), the two ways the kernels add 32 products into int32 lanes: two accumulating dot
 * products, or two `pmaddubsw` added in int16 and widened once (`dotPair` in
 * `block_formats.ts`). Both give the same exact integer sums: the choice changes speed, never
 * results.
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
 * Emits `dot_add(n)` and `maddubs(n)`: `n` steps of {@linkcode CHAINS} sums of two dot products
 * each, in the two forms, and `base(n)`: the same loop with an addition in place of each sum,
 * whose time is taken off the other two so that the comparison is of the dot products alone.
 * With AVX-VNNI the first form is 2 instructions against the second's 5; without it 6 against
 * 5, which is why the kernels' own pair is timed rather than one product of each form (3
 * against 3 without AVX-VNNI: on a Zen 4 that comparison came out either way, run to run, and
 * picked the accumulating form, whose kernels there run 15–35% slower).
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
              ? i32x4.relaxedDotI8x16I7x16AddS(b[k], a, i32x4.relaxedDotI8x16I7x16AddS(a, b[k], c))
              : kind === "maddubs"
              ? i32x4.add(
                c,
                i32x4.extaddPairwiseI16x8S(
                  i16x8.add(
                    i16x8.relaxedDotI8x16I7x16S(a, b[k]),
                    i16x8.relaxedDotI8x16I7x16S(b[k], a),
                  ),
                ),
              )
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
 * @returns True when the two accumulating dot products took less time than the `pmaddubsw`
 *   pair (measured 1.78–1.89 of its time on a Zen 4 without AVX-VNNI; false where relaxed SIMD
 *   does not validate).
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
      fast = best.dot_add - best.base < best.maddubs - best.base;
    } catch {
      // relaxed SIMD does not validate: the portable form
    }
  }
  return fast;
}
