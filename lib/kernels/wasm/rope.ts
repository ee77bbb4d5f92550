/**
 * RoPE in WebAssembly SIMD: each pair `(a, b)` of a head becomes `(a·cos − b·sin, a·sin +
 * b·cos)` at its position's angle, for Meta's interleaved pairs (`a, b` adjacent) or Hugging
 * Face's halves (`b` half a head after `a`). The TypeScript twins are `rope` and `ropeHalves`
 * in `../rope.ts`, which compute in JavaScript numbers (float64) and round once to float32;
 * this kernel does the same two lanes at a time in `f64x2`: a product of two float32 is exact
 * in float64, so each output is the twin's bit for bit.
 *
 * Why in WebAssembly: in a 128-token prefill of the 1B shape the TypeScript rotation took ~11
 * ms of the calling thread, while the other threads waited.
 *
 * @example
 * ```ts
 * import { emitRope } from "./rope.ts";
 * import { ModuleBuilder } from "../../wasm/module.ts";
 *
 * const m = new ModuleBuilder();
 * const memory = { address: "i64", shared: true, minimum: 1, maximum: 65536 } as const;
 * const target = { weights: m.importMemory("weights", memory), state: m.importMemory("state", memory), fma: true };
 * emitRope(m, target);
 * ```
 *
 * @module
 */

import type { Expr, FunctionRef, Local, ModuleBuilder } from "../../wasm/module.ts";
import { f64x2, i32, i64, i8x16, v128 } from "../../wasm/ops.ts";
import { HIGH_HALF, narrowPairs, widenHigh, widenLow } from "./f64_lanes.ts";
import type { KernelTarget } from "./matmul.ts";

/** Float64 lane 0 in both lanes (`HIGH_HALF`: lane 1 in both); the two lanes swapped. */
const LOW_HALF = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7];
const SWAP_HALVES = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
/** The sign bit of float64 lane 0: `[−s, s]` from `[s, s]`. */
const SIGN_OF_LANE_0 = [0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0];

/**
 * Emits `rope(v, rowBytes, heads, headDim, tokens, position, cos, sin, halves)`: rotates the
 * first `heads` heads (`headDim` floats each) of `tokens` rows, row `t` at `v + t · rowBytes`,
 * at position `position + t`. `cos` and `sin` point at position 0 of the tables (`headDim / 2`
 * floats per position, as `RopeTable` holds them). `halves` non-zero: Hugging Face's layout.
 * `headDim` is a multiple of 8.
 *
 * @param m The module.
 * @param target Memories and options.
 * @returns The function.
 */
export function emitRope(m: ModuleBuilder, target: KernelTarget): FunctionRef {
  const S = target.state;
  return m.func(
    "rope",
    {
      v: "i64",
      rowBytes: "i64",
      heads: "i32",
      headDim: "i32",
      tokens: "i32",
      position: "i32",
      cos: "i64",
      sin: "i64",
      halves: "i32",
    },
    null,
    (f, p) => {
      const t = f.local("t", "i32"), h = f.local("h", "i32"), i = f.local("i", "i32");
      const head = f.local("head", "i64"), c = f.local("c", "i64"), s = f.local("s", "i64");
      const pairs = f.local("pairs", "i32"), halfBytes = f.local("halfBytes", "i64");
      const a = f.local("a", "v128"), b = f.local("b", "v128");
      const cv = f.local("cv", "v128"), sv = f.local("sv", "v128");
      const lo = f.local("lo", "v128"), hi = f.local("hi", "v128");
      const byteOf = (index: Expr) => i64.extendI32U(i32.shl(index, i32.const(2)));
      f.set(pairs, i32.shrU(p.headDim, i32.const(1)));
      f.set(halfBytes, byteOf(pairs));
      f.forRange(t, i32.const(0), p.tokens, 1, () => {
        const row = i64.mul(i64.extendI32U(i32.add(p.position, t)), halfBytes);
        f.set(c, i64.add(p.cos, row));
        f.set(s, i64.add(p.sin, row));
        f.forRange(h, i32.const(0), p.heads, 1, () => {
          f.set(head, i64.add(p.v, i64.mul(i64.extendI32U(h), i64.shl(halfBytes, i64.const(1)))));
          f.if(
            p.halves,
            () => {
              // a = v[i], b = v[i + pairs], four pairs at a time.
              f.forRange(i, i32.const(0), pairs, 4, () => {
                const at = byteOf(i);
                f.set(a, v128.load(S, i64.add(head, at)));
                f.set(b, v128.load(S, i64.add(i64.add(head, halfBytes), at)));
                f.set(cv, v128.load(S, i64.add(c, at)));
                f.set(sv, v128.load(S, i64.add(s, at)));
                // a · cos − b · sin and a · sin + b · cos, lanes 0–1 then 2–3.
                const first = (widen: (x: Local) => Expr) =>
                  f64x2.sub(f64x2.mul(widen(a), widen(cv)), f64x2.mul(widen(b), widen(sv)));
                const second = (widen: (x: Local) => Expr) =>
                  f64x2.add(f64x2.mul(widen(a), widen(sv)), f64x2.mul(widen(b), widen(cv)));
                const bAt = i64.add(i64.add(head, halfBytes), at);
                f.emit(
                  v128.store(S, i64.add(head, at), narrowPairs(first(widenLow), first(widenHigh))),
                );
                f.emit(v128.store(S, bAt, narrowPairs(second(widenLow), second(widenHigh))));
              });
            },
            () => {
              // Interleaved: v[2i], v[2i + 1], two pairs (four floats) at a time.
              f.forRange(i, i32.const(0), pairs, 2, () => {
                const at = byteOf(i);
                const vAt = i64.add(head, i64.shl(at, i64.const(1)));
                f.set(a, v128.load(S, vAt));
                // cos and sin of the two pairs, widened: [c0, c1], [s0, s1].
                f.set(cv, widenLow(v128.load64Zero(S, i64.add(c, at))));
                f.set(sv, widenLow(v128.load64Zero(S, i64.add(s, at))));
                f.set(lo, widenLow(a)); // [a0, b0]
                f.set(hi, widenHigh(a)); // [a1, b1]
                // [a·c − b·s, b·c + a·s] = [a, b] · [c, c] + [b, a] · [−s, s].
                const pair = (x: Local, lane: number[]) => {
                  const both = (y: Local) => i8x16.shuffle(y, y, lane);
                  const signs = f.hoist("ropeSigns", v128.const(SIGN_OF_LANE_0));
                  return f64x2.add(
                    f64x2.mul(x, both(cv)),
                    f64x2.mul(i8x16.shuffle(x, x, SWAP_HALVES), v128.xor(both(sv), signs)),
                  );
                };
                f.emit(v128.store(S, vAt, narrowPairs(pair(lo, LOW_HALF), pair(hi, HIGH_HALF))));
              });
            },
          );
        });
        f.set(p.v, i64.add(p.v, p.rowBytes));
      });
    },
    "Rotates each head's pairs by its position's angles (interleaved or halves), in float64.",
  );
}
