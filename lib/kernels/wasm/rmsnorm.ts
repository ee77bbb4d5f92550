/**
 * RMSNorm in WebAssembly SIMD, with the residual add that comes before it fused in: for each
 * token, `x += residual` (when asked), then `out = x / sqrt(mean(x²) + eps) · weight`. The
 * TypeScript twin is `rmsNorm` in `../rmsnorm.ts` (and `x[i] += residual[i]` before it).
 *
 * The arithmetic is the twin's, in float64: the sum of squares, the scale, and `x · scale ·
 * weight`, rounded to float32 once. Only the order of the sum differs: four partial sums (two
 * `f64x2` accumulators, lanes 0–1 and 2–3 of each group of four floats) added at the end,
 * against the twin's one running sum; that moves the last bits of a float64, and an output
 * rarely by one float32 ulp.
 *
 * Why in WebAssembly: in a 128-token prefill of the 1B shape, the TypeScript norms and adds
 * took ~30 ms on the calling thread (2.5 ns per element), during which the other threads wait.
 *
 * @example
 * ```ts
 * import { emitRmsNorm } from "./rmsnorm.ts";
 * import { ModuleBuilder } from "../../wasm/module.ts";
 *
 * const m = new ModuleBuilder();
 * const memory = { address: "i64", shared: true, minimum: 1, maximum: 65536 } as const;
 * const target = { weights: m.importMemory("weights", memory), state: m.importMemory("state", memory), fma: true };
 * emitRmsNorm(m, target);
 * ```
 *
 * @module
 */

import type { Expr, FunctionRef, Local, ModuleBuilder } from "../../wasm/module.ts";
import { f32x4, f64, f64x2, i32, i64, v128 } from "../../wasm/ops.ts";
import { narrowPairs, widenHigh, widenLow } from "./f64_lanes.ts";
import type { KernelTarget } from "./matmul.ts";

/**
 * Emits `rmsnorm(x, residual, add, out, weight, n, tokens, eps)`: for each token `t <
 * tokens`, the `n` floats at `x + 4 · n · t` (the state memory) first get the floats at the
 * same place of `residual` added when `add` is 1, then `out` gets them normalized and scaled
 * by the `n` floats at `weight` (the state memory too). `n` is a multiple of 4; `out` may be
 * `x`.
 *
 * @param m The module.
 * @param target Memories and options.
 * @returns The function.
 */
export function emitRmsNorm(m: ModuleBuilder, target: KernelTarget): FunctionRef {
  const S = target.state;
  return m.func(
    "rmsnorm",
    {
      x: "i64",
      residual: "i64",
      add: "i32",
      out: "i64",
      weight: "i64",
      n: "i32",
      tokens: "i32",
      eps: "f64",
    },
    null,
    (f, p) => {
      const t = f.local("t", "i32"), i = f.local("i", "i32");
      const v = f.local("v", "v128"), w = f.local("w", "v128");
      const low = f.local("low", "v128"), high = f.local("high", "v128");
      const scale = f.local("scale", "v128"), sum = f.local("sum", "f64");
      const rowBytes = i64.extendI32U(i32.shl(p.n, i32.const(2)));
      const at = (row: typeof p.x) => i64.add(row, i64.extendI32U(i32.shl(i, i32.const(2))));
      f.forRange(t, i32.const(0), p.tokens, 1, () => {
        f.set(low, v128.i32x4(0));
        f.set(high, v128.i32x4(0));
        f.forRange(i, i32.const(0), p.n, 4, () => {
          f.set(v, v128.load(S, at(p.x)));
          f.if(p.add, () => {
            f.set(v, f32x4.add(v, v128.load(S, at(p.residual))));
            f.emit(v128.store(S, at(p.x), v));
          });
          const lanes01 = widenLow(v), lanes23 = widenHigh(v);
          f.set(low, f64x2.add(low, f64x2.mul(lanes01, lanes01)));
          f.set(high, f64x2.add(high, f64x2.mul(lanes23, lanes23)));
        });
        f.set(
          sum,
          f64.add(
            f64.add(f64x2.extractLane(low, 0), f64x2.extractLane(low, 1)),
            f64.add(f64x2.extractLane(high, 0), f64x2.extractLane(high, 1)),
          ),
        );
        // scale = 1 / sqrt(mean(x²) + eps), in float64.
        const meanSquare = f64.add(f64.div(sum, f64.convertI32S(p.n)), p.eps);
        f.set(scale, f64x2.splat(f64.div(f64.const(1), f64.sqrt(meanSquare))));
        f.forRange(i, i32.const(0), p.n, 4, () => {
          // x · scale · weight in float64, rounded to float32 once, two lanes at a time.
          f.set(v, v128.load(S, at(p.x)));
          f.set(w, v128.load(S, at(p.weight)));
          const scaled = (widen: (x: Local) => Expr) =>
            f64x2.mul(f64x2.mul(widen(v), scale), widen(w));
          f.emit(v128.store(S, at(p.out), narrowPairs(scaled(widenLow), scaled(widenHigh))));
        });
        f.set(p.x, i64.add(p.x, rowBytes));
        f.set(p.residual, i64.add(p.residual, rowBytes));
        f.set(p.out, i64.add(p.out, rowBytes));
      });
    },
    "x[t] += residual[t] (add = 1); out[t] = x[t] / sqrt(mean(x[t]²) + eps) · weight.",
  );
}
