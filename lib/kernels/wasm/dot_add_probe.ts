/**
 * Whether `i32x4.relaxed_dot_i8x16_i7x16_add_s` is fast here: one `vpdpbusd` where V8 has
 * AVX-VNNI, three instructions (`pmaddubsw`, `pmaddwd`, `paddd`) where it has not, as on an AMD
 * Zen 4, which has only AVX-512 VNNI. JavaScript cannot read the processor's features
 * (`/proc/cpuinfo` needs `--allow-all` in Deno), so this times, on registers, once per process
 * (~10 ms), the two ways the kernels add 32 products into int32 lanes: two accumulating dot
 * products, or two `pmaddubsw` added in int16 and widened once (`dotPair` in
 * `block_formats.ts`). Both give the same exact integer sums: the choice changes speed, never
 * results. (On a Zen 5, which has AVX-VNNI, this probe's chains wait on the instruction's
 * latency and it comes out either way from one process to the next, while the kernels run
 * faster with it: so where {@linkcode dotAddIsUnsigned} finds `vpdpbusd`, `dotAddOf` in
 * `kernels.ts` takes it without asking this probe.)
 *
 * {@linkcode dotAddIsUnsigned} asks something else, by result rather than by time: whether the
 * instruction reads bytes of 128 and more as unsigned, as `vpdpbusd` does, which lets Q8_0 use
 * it on weights biased to unsigned bytes.
 *
 * @example
 * ```ts
 * import { dotAddIsFast, dotAddIsUnsigned } from "./dot_add_probe.ts";
 *
 * dotAddIsFast(); // true on processors with AVX-VNNI, where it is faster
 * dotAddIsUnsigned(); // true where V8 emits vpdpbusd (AVX-VNNI)
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

let unsigned: boolean | undefined;

/**
 * Whether `i32x4.relaxed_dot_i8x16_i7x16_add_s` reads bytes of 128 and more in its second
 * operand as unsigned (128 … 255) and adds without saturating, as one `vpdpbusd` does. The
 * relaxed SIMD proposal leaves those bytes implementation-defined: V8's expansion without
 * AVX-VNNI (`pmaddubsw` first) saturates pairs of products to int16, and on Arm it reads them
 * as signed. Where this holds, Q8_0's signed weights become unsigned by flipping their sign
 * bits (`w + 128`) and meet the signed activations in one dot product per 16 instead of two
 * (`block_formats.ts`). Checked on products that tell the three readings apart, so the answer
 * is the instruction's behaviour here, not a guess from its speed.
 *
 * @returns True when every lane of the check came out as unsigned, unsaturated arithmetic.
 */
export function dotAddIsUnsigned(): boolean {
  if (unsigned === undefined) {
    unsigned = false;
    try {
      // a: signed bytes; b: bytes 128–255 among 0–127, so that pairs of products exceed int16.
      const a = [127, 127, -128, 127, 100, -100, 1, -1, 127, -127, 64, 3, -128, -128, 127, 5];
      const b = [255, 255, 255, 200, 128, 129, 7, 250, 254, 1, 130, 127, 255, 255, 0, 77];
      const m = new ModuleBuilder();
      for (let j = 0; j < 4; j++) {
        m.func(`lane${j}`, {}, "i32", (f) => {
          const sum = i32x4.relaxedDotI8x16I7x16AddS(v128.const(a), v128.const(b), v128.i32x4(1));
          f.return(i32x4.extractLane(sum, j));
        });
      }
      const exports = new WebAssembly.Instance(new WebAssembly.Module(m.encode())).exports as {
        [lane: string]: () => number;
      };
      unsigned = [0, 1, 2, 3].every((j) => {
        let sum = 1;
        for (let k = 4 * j; k < 4 * j + 4; k++) sum += a[k] * b[k];
        return exports[`lane${j}`]() === sum;
      });
    } catch {
      // relaxed SIMD does not validate
    }
  }
  return unsigned;
}
