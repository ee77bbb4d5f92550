/**
 * Causal attention of one token's query heads over the KV cache, in WebAssembly SIMD: for each
 * query head, `out = Σ_{i < positions} softmax_i(q · k_i / sqrt(headDim)) · v_i`. The TypeScript
 * twin is `attend` in `../attention.ts`.
 *
 * The query heads that share a key/value head (grouped-query attention) are computed together,
 * up to four at a time, so that every key and value loaded from the cache serves all of them:
 *
 * 1. **Scores.** For each pair of cached positions, the two key rows are read 4 floats at a
 *    time and multiplied into two accumulators per query head, so that each query vector loaded
 *    serves both (8 accumulators for 4 heads); lanes are summed and scaled.
 * 2. **Softmax.** Per head: the maximum score is subtracted before `exp` (so nothing overflows),
 *    `exp` is computed 4 lanes at a time by {@linkcode expF32x4}, and the sum is kept.
 * 3. **Values.** For each block of 8 dimensions, the value rows of every position are summed,
 *    weighted by each head's probabilities: 2 vectors × up to 4 heads = 8 accumulators. The
 *    result is divided by the head's sum once, at the end.
 *
 * Scores live in per-worker scratch of the state memory (`positions` floats per head). The
 * sums run over positions in order, so a token's output is the same whichever worker computes
 * it and however many tokens share the call.
 *
 * @example
 * ```ts
 * import { emitAttention } from "./attention.ts";
 * import { ModuleBuilder } from "../../wasm/module.ts";
 *
 * const m = new ModuleBuilder();
 * const weights = m.importMemory("weights", { address: "i64", shared: true, minimum: 1, maximum: 262144 });
 * const state = m.importMemory("state", { address: "i64", shared: true, minimum: 1, maximum: 262144 });
 * emitAttention(m, { weights, state, fma: true });
 * ```
 *
 * @module
 */

import type { Expr, FunctionRef, ModuleBuilder } from "../../wasm/module.ts";
import { call, f32, f32x4, i32, i64, v128 } from "../../wasm/ops.ts";
import { expF32x4 } from "./exp.ts";
import { type KernelTarget, madd } from "./matmul.ts";

/** Query heads computed together (their accumulators fill the registers). */
const HEADS_PER_PASS = 4;

/** Sum of the four lanes, `(l0 + l1) + (l2 + l3)`. */
function laneSum(v: Expr): Expr {
  return f32.add(
    f32.add(f32x4.extractLane(v, 0), f32x4.extractLane(v, 1)),
    f32.add(f32x4.extractLane(v, 2), f32x4.extractLane(v, 3)),
  );
}

/** Emits `attend_heads_<H>`: H query heads sharing one key/value head. */
function emitHeads(m: ModuleBuilder, target: KernelTarget, H: number): FunctionRef {
  const S = target.state;
  return m.func(
    `attend_heads_${H}`,
    {
      q: "i64", // first query head
      out: "i64", // its output
      keys: "i64", // position 0 of the key/value head
      values: "i64",
      rowStride: "i64", // bytes between positions
      headDim: "i32",
      positions: "i32",
      scores: "i64", // H · positions floats
    },
    null,
    (f, p) => {
      const heads = Array.from({ length: H }, (_, h) => h);
      const qRow = heads.map((h) => f.local(`q${h}`, "i64"));
      const outRow = heads.map((h) => f.local(`out${h}`, "i64"));
      const scoreRow = heads.map((h) => f.local(`scores${h}`, "i64"));
      const acc = heads.map((h) => f.local(`acc${h}`, "v128"));
      const acc2 = heads.map((h) => f.local(`acc${h}_hi`, "v128"));
      const inv = heads.map((h) => f.local(`inv${h}`, "v128"));
      const i = f.local("i", "i32"), d = f.local("d", "i32"), row = f.local("row", "i64");
      const kv = f.local("kv", "v128"),
        kv2 = f.local("kv2", "v128"),
        prob = f.local("prob", "v128");
      const scale = f.local("scale", "f32"), headBytes = f.local("headBytes", "i64");
      const max = f.local("max", "f32"), sum = f.local("sum", "v128"), e = f.local("e", "v128");
      const tailSum = f.local("tailSum", "f32"), tail = f.local("tail", "i32");

      f.set(scale, f32.div(f32.const(1), f32.sqrt(f32.convertI32S(p.headDim))));
      f.set(headBytes, i64.extendI32U(i32.shl(p.headDim, i32.const(2))));
      for (const h of heads) {
        f.set(qRow[h], i64.add(p.q, i64.mul(headBytes, i64.const(h))));
        f.set(outRow[h], i64.add(p.out, i64.mul(headBytes, i64.const(h))));
        f.set(
          scoreRow[h],
          i64.add(p.scores, i64.extendI32U(i32.mul(p.positions, i32.const(4 * h)))),
        );
      }

      // 1. scores[h][i] = q_h · k_i / sqrt(headDim), two positions at a time: each query
      // vector loaded serves both keys (8 accumulators for 4 heads). Each score is summed in
      // the same order as with one position at a time.
      const qv = f.local("qv", "v128");
      const scoreAt = (h: number, index: Expr) =>
        i64.add(scoreRow[h], i64.extendI32U(i32.shl(index, i32.const(2))));
      f.set(row, p.keys);
      f.forRange(i, i32.const(0), i32.sub(p.positions, i32.const(1)), 2, () => {
        for (const h of heads) {
          f.set(acc[h], v128.i32x4(0));
          f.set(acc2[h], v128.i32x4(0));
        }
        f.forRange(d, i32.const(0), p.headDim, 4, () => {
          const at = i64.extendI32U(i32.shl(d, i32.const(2)));
          f.set(kv, v128.load(S, i64.add(row, at)));
          f.set(kv2, v128.load(S, i64.add(i64.add(row, p.rowStride), at)));
          for (const h of heads) {
            f.set(qv, v128.load(S, i64.add(qRow[h], at)));
            f.set(acc[h], madd(target, qv, kv, acc[h]));
            f.set(acc2[h], madd(target, qv, kv2, acc2[h]));
          }
        });
        for (const h of heads) {
          f.emit(f32.store(S, scoreAt(h, i), f32.mul(laneSum(acc[h]), scale)));
          f.emit(f32.store(S, scoreAt(h, i), f32.mul(laneSum(acc2[h]), scale), 4));
        }
        f.set(row, i64.add(row, i64.shl(p.rowStride, i64.const(1))));
      });
      // The last position, when their number is odd.
      f.if(i32.and(p.positions, i32.const(1)), () => {
        f.set(i, i32.sub(p.positions, i32.const(1)));
        for (const h of heads) f.set(acc[h], v128.i32x4(0));
        f.forRange(d, i32.const(0), p.headDim, 4, () => {
          const at = i64.extendI32U(i32.shl(d, i32.const(2)));
          f.set(kv, v128.load(S, i64.add(row, at)));
          for (const h of heads) {
            f.set(acc[h], madd(target, v128.load(S, i64.add(qRow[h], at)), kv, acc[h]));
          }
        });
        for (const h of heads) {
          f.emit(f32.store(S, scoreAt(h, i), f32.mul(laneSum(acc[h]), scale)));
        }
      });

      // 2. scores[h] = exp(scores[h] - max); inv_h = 1 / Σ
      f.set(tail, i32.and(p.positions, i32.const(3)));
      for (const h of heads) {
        const at = (index: Expr) =>
          i64.add(scoreRow[h], i64.extendI32U(i32.shl(index, i32.const(2))));
        // The largest score: four lanes at a time with pmax (one instruction; f32.max is a
        // compare and branches in V8's code), then the lanes and the tail with f32.max.
        f.set(e, f32x4.splat(f32.load(S, scoreRow[h])));
        f.forRange(i, i32.const(0), i32.sub(p.positions, tail), 4, () => {
          f.set(e, f32x4.pmax(e, v128.load(S, at(i))));
        });
        f.set(
          max,
          f32.max(
            f32.max(f32x4.extractLane(e, 0), f32x4.extractLane(e, 1)),
            f32.max(f32x4.extractLane(e, 2), f32x4.extractLane(e, 3)),
          ),
        );
        f.forRange(i, i32.sub(p.positions, tail), p.positions, 1, () => {
          f.set(max, f32.max(max, f32.load(S, at(i))));
        });
        f.set(sum, v128.i32x4(0));
        f.forRange(i, i32.const(0), i32.sub(p.positions, tail), 4, () => {
          f.set(e, expF32x4(f, f32x4.sub(v128.load(S, at(i)), f32x4.splat(max))));
          f.emit(v128.store(S, at(i), e));
          f.set(sum, f32x4.add(sum, e));
        });
        f.set(tailSum, f32.const(0));
        f.forRange(i, i32.sub(p.positions, tail), p.positions, 1, () => {
          f.set(e, expF32x4(f, f32x4.splat(f32.sub(f32.load(S, at(i)), max))));
          f.emit(f32.store(S, at(i), f32x4.extractLane(e, 0)));
          f.set(tailSum, f32.add(tailSum, f32x4.extractLane(e, 0)));
        });
        f.set(inv[h], f32x4.splat(f32.div(f32.const(1), f32.add(laneSum(sum), tailSum))));
      }

      // 3. out_h[d .. d + 8] = Σ_i scores[h][i] · v_i[d .. d + 8] / Σ
      f.forRange(d, i32.const(0), p.headDim, 8, () => {
        for (const h of heads) {
          f.set(acc[h], v128.i32x4(0));
          f.set(acc2[h], v128.i32x4(0));
        }
        f.set(row, i64.add(p.values, i64.extendI32U(i32.shl(d, i32.const(2)))));
        f.forRange(i, i32.const(0), p.positions, 1, () => {
          f.set(kv, v128.load(S, row));
          f.set(kv2, v128.load(S, row, 16));
          const at = i64.extendI32U(i32.shl(i, i32.const(2)));
          for (const h of heads) {
            f.set(prob, v128.load32Splat(S, i64.add(scoreRow[h], at)));
            f.set(acc[h], madd(target, prob, kv, acc[h]));
            f.set(acc2[h], madd(target, prob, kv2, acc2[h]));
          }
          f.set(row, i64.add(row, p.rowStride));
        });
        const at = i64.extendI32U(i32.shl(d, i32.const(2)));
        for (const h of heads) {
          f.emit(v128.store(S, i64.add(outRow[h], at), f32x4.mul(acc[h], inv[h])));
          f.emit(v128.store(S, i64.add(outRow[h], at), f32x4.mul(acc2[h], inv[h]), 16));
        }
      });
    },
    H === 1
      ? "Attention of 1 query head over its key/value head."
      : `Attention of ${H} query heads that share one key/value head.`,
  );
}

/**
 * Emits `attention(q, out, keys, values, rowStride, headDim, kvHeads, kvGroup, positions,
 * scores)`: the output of `kvHeads · kvGroup` consecutive query heads of one token, each reading
 * key/value head `⌊head / kvGroup⌋`, over cache positions `0 .. positions − 1`. Addresses are
 * bytes in the state memory: `keys`/`values` point at position 0 of the first key/value head,
 * `rowStride` is the bytes between positions, `scores` holds `kvGroup · positions` floats.
 * `headDim` must be a multiple of 8.
 *
 * @param m The module.
 * @param target Memories and options.
 * @returns The exported function.
 */
export function emitAttention(m: ModuleBuilder, target: KernelTarget): FunctionRef {
  const passes = Array.from({ length: HEADS_PER_PASS }, (_, i) => emitHeads(m, target, i + 1));
  return m.func(
    "attention",
    {
      q: "i64",
      out: "i64",
      keys: "i64",
      values: "i64",
      rowStride: "i32",
      headDim: "i32",
      kvHeads: "i32",
      kvGroup: "i32",
      positions: "i32",
      scores: "i64",
    },
    null,
    (f, p) => {
      const c = f.local("c", "i32"), h = f.local("h", "i32"), n = f.local("n", "i32");
      const headBytes = f.local("headBytes", "i64"), qHead = f.local("qHead", "i64");
      const kvOffset = f.local("kvOffset", "i64"), stride = f.local("stride", "i64");
      f.set(headBytes, i64.extendI32U(i32.shl(p.headDim, i32.const(2))));
      f.set(stride, i64.extendI32U(p.rowStride));
      f.forRange(c, i32.const(0), p.kvHeads, 1, () => {
        f.set(kvOffset, i64.mul(i64.extendI32U(c), headBytes));
        f.forRange(h, i32.const(0), p.kvGroup, n, () => {
          // n = min(4, kvGroup - h) heads in this pass
          f.set(n, i32.sub(p.kvGroup, h));
          f.if(i32.gtS(n, i32.const(HEADS_PER_PASS)), () => f.set(n, i32.const(HEADS_PER_PASS)));
          f.set(qHead, i64.mul(i64.extendI32U(i32.add(i32.mul(c, p.kvGroup), h)), headBytes));
          const args = [
            i64.add(p.q, qHead),
            i64.add(p.out, qHead),
            i64.add(p.keys, kvOffset),
            i64.add(p.values, kvOffset),
            stride,
            p.headDim,
            p.positions,
            p.scores,
          ];
          const dispatch = (k: number) => {
            if (k === HEADS_PER_PASS - 1) return f.emit(call(passes[k], ...args));
            f.if(
              i32.eq(n, i32.const(k + 1)),
              () => f.emit(call(passes[k], ...args)),
              () => dispatch(k + 1),
            );
          };
          dispatch(0);
        });
      });
    },
    "Attention of every query head of one token over its cached keys and values.",
  );
}
