/**
 * `e^x` of four float32 lanes in WebAssembly SIMD, for the kernels that need it: the softmax of
 * attention (`attention.ts`) and the SiLU gate of the feed-forward block (`silu.ts`).
 *
 * @example
 * ```ts
 * import { expF32x4 } from "./exp.ts";
 * import type { Expr, FunctionBuilder } from "../../wasm/module.ts";
 *
 * declare const f: FunctionBuilder, x: Expr;
 * const e = expF32x4(f, x); // e^x in each lane
 * ```
 *
 * @module
 */

import type { Expr, FunctionBuilder } from "../../wasm/module.ts";
import { f32x4, i32, i32x4, v128 } from "../../wasm/ops.ts";

const LOG2E = Math.LOG2E;
/** ln 2 split in two (Cody and Waite): the high part has few bits, so `n · LN2_HI` is exact. */
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;

/**
 * `e^x` in each lane: within 2 units in the last place for `x` in [-87, 88]
 * (inputs outside are clamped, so `e^x` of a very negative score is 1e-38, not 0, and of a
 * very large one 2.6e38, not infinity).
 *
 * Write `x = n · ln 2 + r` with `n` the nearest integer to `x / ln 2`, so `|r| ≤ ln 2 / 2`;
 * then `e^x = 2^n · e^r`, where `e^r` is its Taylor series to `r^6/720` (the next term is below
 * 2^-24 of the result) and `2^n` is built directly as the float's exponent bits `(n + 127) <<
 * 23`. Sets temporaries of `f` named `exp_*`, and hoists its constants into locals of `f`.
 *
 * @param f The function being written.
 * @param x Four floats.
 * @returns Their exponentials.
 */
export function expF32x4(f: FunctionBuilder, x: Expr): Expr {
  const t = f.temp("exp_x", "v128"), n = f.temp("exp_n", "v128");
  const r = f.temp("exp_r", "v128"), p = f.temp("exp_p", "v128");
  // Each constant in a local set once at the function's start (`hoist`): V8 builds a vector
  // constant anew at every use, three instructions each, inside the loop.
  const splat = (value: number) => f.hoist(`exp_c${value}`, v128.f32x4(value));
  // pmin and pmax are one instruction each (min and max: about nine, for their NaN and −0
  // rules, which a clamp to two non-zero bounds does not need; a NaN lane stays NaN).
  f.set(t, f32x4.pmax(f32x4.pmin(x, splat(88.37)), splat(-87.33)));
  f.set(n, f32x4.nearest(f32x4.mul(t, splat(LOG2E))));
  f.set(r, f32x4.sub(f32x4.sub(t, f32x4.mul(n, splat(LN2_HI))), f32x4.mul(n, splat(LN2_LO))));
  // p = 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r/720)))))
  f.set(p, splat(1 / 720));
  for (const c of [1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]) {
    f.set(p, f32x4.add(f32x4.mul(p, r), splat(c)));
  }
  // 2^n from the bits of n + 127 + 2^23: that float's low 23 bits are n + 127 (n is an
  // integer from −126 to 128), and the shift by 23 drops its exponent: two instructions where
  // the saturating conversion to int32 took about seven.
  const twoToN = i32x4.shl(f32x4.add(n, splat(127 + 2 ** 23)), i32.const(23));
  return f32x4.mul(p, twoToN);
}
