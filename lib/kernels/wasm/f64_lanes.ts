/**
 * Float32 vectors taken through float64 two lanes at a time, for the kernels that compute as
 * their TypeScript twins do, in JavaScript numbers, and round to float32 once (`rmsnorm.ts`,
 * `rope.ts`): lanes 0–1 and 2–3 widened, and two float64 pairs rounded back into one vector.
 *
 * @example
 * ```ts
 * import { narrowPairs, widenHigh, widenLow } from "./f64_lanes.ts";
 * import type { FunctionBuilder } from "../../wasm/module.ts";
 *
 * declare const f: FunctionBuilder;
 * const v = f.local("v", "v128");
 * const same = narrowPairs(widenLow(v), widenHigh(v)); // v again
 * ```
 *
 * @module
 */

import type { Expr, Local } from "../../wasm/module.ts";
import { f32x4, f64x2, i8x16 } from "../../wasm/ops.ts";

/** Bytes 8–15 (float32 lanes 2–3, or float64 lane 1) in both halves. */
export const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** Lanes 0–1 of the first vector, then lanes 0–1 of the second. */
const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/** Float32 lanes 0–1 of `v` as float64. */
export function widenLow(v: Expr): Expr {
  return f64x2.promoteLowF32x4(v);
}

/** Float32 lanes 2–3 of `v` as float64 (`v` is read twice, so it is a local). */
export function widenHigh(v: Local): Expr {
  return f64x2.promoteLowF32x4(i8x16.shuffle(v, v, HIGH_HALF));
}

/** Two float64 pairs rounded to float32, `low` into lanes 0–1 and `high` into 2–3. */
export function narrowPairs(low: Expr, high: Expr): Expr {
  return i8x16.shuffle(f32x4.demoteF64x2Zero(low), f32x4.demoteF64x2Zero(high), LOW_HALVES);
}
