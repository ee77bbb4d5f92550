/**
 * Matrix × matrix in WebAssembly SIMD for ggml's block types: `X (T, n) @ W^T (n, d) -> out
 * (T, d)` for the weight rows `[rowStart, rowEnd)` one worker owns, with the same signature as
 * the float kernels of `matmul.ts`, so the backend and the forward pass do not change. With
 * one token it is the decode step.
 *
 * Each call first quantizes X to 8 bits per block of 32 into the worker's scratch
 * (`quantize_x.ts`: one pass over X, shared by all rows), then runs tiles of `R` rows × `B`
 * tokens over the rows' super-blocks; each type's body (`block_formats.ts`) unpacks a
 * super-block of each row once and multiplies it with every token of the tile. Per row and
 * token, either four float32 lanes accumulate the scaled block sums, added `(l0 + l1) + (l2 +
 * l3)` at the end (the row form), or one lane of a vector shared by four rows does (the
 * row-lane form). The order of operations does not depend on the tile, so results do not
 * depend on how rows are split between workers or on how many tokens share a call. Tokens are
 * taken in spans whose activations fit in L2 ({@linkcode ACTIVATION_SPAN_BYTES}). With one
 * token, a multi-row tile takes its rows far apart, one from each of R equal runs of the range,
 * so that each row's stream goes on into the next row of its run: a 2048-column Q8_0 row is
 * only 2 KiB, and R adjacent rows made R memory streams that ended every 2 KiB.
 *
 * Why 8-bit activations rather than float32 (`bench/kernels_bench.ts` measures both for Q8_0
 * and Q4_0): an integer dot product does 16 multiply-adds per instruction where float32 does
 * 4 and first needs each weight widened from its bits to a float (3–4 instructions per 4
 * weights); at 4 or 5 bits per weight the float path cannot keep up with memory. The cost is
 * the activations' rounding, ~0.3% of each block's largest entry, what llama.cpp accepts too.
 *
 * @example
 * ```ts
 * import { emitBlockMatMul } from "./block_matmul.ts";
 * import { ModuleBuilder } from "../../wasm/module.ts";
 *
 * const m = new ModuleBuilder();
 * const memory = { address: "i64", shared: true, minimum: 1, maximum: 65536 } as const;
 * const target = { weights: m.importMemory("weights", memory), state: m.importMemory("state", memory), fma: true };
 * emitBlockMatMul(m, target, "q4_0");
 * ```
 *
 * @module
 */

import type { BlockStorageType } from "../../tensor/storage.ts";
import type { Expr, FunctionRef, ModuleBuilder } from "../../wasm/module.ts";
import { call, f32, f32x4, i32, i64 } from "../../wasm/ops.ts";
import {
  type BlockFormat,
  blockFormatFor,
  emitLaneBlock,
  FLOAT_BLOCK_FORMATS,
} from "./block_formats.ts";
import { addressOps } from "./address.ts";
import { callRunTiles, callTile, type KernelTarget } from "./matmul.ts";
import { emitQuantizeX, type RecordForm, RECORDS } from "./quantize_x.ts";

/** Tile sizes of the block kernels: rows × tokens for prefill, rows for one token. */
export interface BlockTilePlan {
  readonly rows: number;
  readonly tokens: number;
  readonly vectorRows: number;
}

/**
 * The measured defaults, per type (`bench/block_plan_probe.ts`, one thread, the same data for
 * every plan). Decode: a tile's rows come one from each of as many runs of the range (as many
 * memory streams and independent chains of dependent instructions). The K-quants' multi-row
 * tiles go chunk by chunk, each chunk's activations loaded once for all
 * rows (a load costs three instructions with its bounds check, and decode here is bound by
 * instructions, not bytes), and past 4 rows (Q4_K) or 2 (Q5_K, Q6_K) the extra rows spill. On a
 * Zen 4 (2048 × 8192): Q4_K 11.0 GB/s with 4 rows against 8.4 with 1 and 9.4 with the 8-row
 * tiles of before; Q6_K 9.4–10.0 with 2 against 8.2–8.7 with 1; the 1B Q4_K_M model 13.8 → 15.2
 * tokens/s in the same process. Which of 1 row and `vectorRows` is faster differs between
 * processors, so each thread times both on its first decode calls (`decode_rows.ts`). Prefill
 * (2048 columns, 128 tokens): the row-lane types unpack four rows once for every token of the
 * tile, so more tokens pay: 4 × 8 against 4 × 2, Q4_0 +25%, Q5_0 +63%, Q8_0 +19% (4 × 12 no
 * better); Q6_K at 1 × 8 (against 1 × 6: +2%; 1 × 12 and 1 × 16 no better, 2 × 3 spills and
 * is 13% slower; in the row-lane form, 4 × 8 and 4 × 4 spilled and were 15–20% slower). Q4_K
 * and Q5_K take the row-lane body (`emitLanes`) in 4-row tiles, for prefill (4 × 8 against the
 * row form's 1 × 8, same process: Q4_K 53.4 against 41.3 GFLOP/s, Q5_K 51.2 against 41.0) and
 * for one token (4 × 1: Q4_K 10.8 GB/s against 10.6; Q5_K 6.6 against 6.7 with 2 rows).
 * Q8_0 decodes in 4-row tiles too. One thread runs 4 × 1 and 8 × 1 at the same speed (2048 ×
 * 8192: 10.6 and 10.7 GB/s), but two threads share the memory, and 8 streams per thread cost
 * there: the 1B Q8_0 model, two threads, 8 runs of each taking turns, decoded 16.7 tok/s with 4
 * rows against 14.9 with 8 (+8.5%, median of the paired ratios). Q4_0 gained nothing from the
 * same change there (0.98×), but on a Zen 5 one thread streams Q4_0 at 10.9 GB/s with 4 rows
 * against 8.5 with 8 (Q5_0 7.6 against 6.6), and the 1B Q4_0 model decoded 23.4–26.6 tokens/s
 * with 4 against 20.2–22.2 with 8 (two threads, five pairs of runs): Q4_0 and Q5_0 take 4 too.
 */
export const DEFAULT_BLOCK_TILES: { readonly [T in BlockStorageType]: BlockTilePlan } = {
  q8_0: { rows: 4, tokens: 8, vectorRows: 4 },
  q4_0: { rows: 4, tokens: 8, vectorRows: 4 },
  q5_0: { rows: 4, tokens: 8, vectorRows: 4 },
  q4_k: { rows: 4, tokens: 8, vectorRows: 4 },
  q5_k: { rows: 4, tokens: 8, vectorRows: 4 },
  q6_k: { rows: 1, tokens: 8, vectorRows: 2 },
};

/**
 * Bytes of activation records that one pass over a row range reads: tokens are taken in spans
 * of about this size, so that they stay in the 1 MiB L2 cache while every row meets them. With
 * all 128 tokens of a prefill chunk at once, the records of a 2048-column product (1 MiB) came
 * from L3 for every tile, and a thread ran at half the speed it has with 32 tokens.
 */
const ACTIVATION_SPAN_BYTES = 256 * 1024;

/** Activations of the block kernels: 8 bits per 32 (the default), or float32 as they are. */
export type BlockActivations = "q8" | "f32";

/** Bytes of the activations of one block of 32, as the body reads them. */
function recordBytes(fmt: BlockFormat): number {
  return fmt.activations === "f32" ? 128 : RECORDS[fmt.activations].bytes;
}

function emitBlockTile(
  m: ModuleBuilder,
  target: KernelTarget,
  type: BlockStorageType,
  fmt: BlockFormat,
  R: number,
  B: number,
): FunctionRef {
  const S = target.state;
  const lanes = fmt.lanes;
  // A K-quant tile of whole groups of four rows (prefill or one token) takes the row-lane body.
  const laneBody = fmt.emitLanes !== undefined && R % 4 === 0;
  const grouped = lanes !== undefined || laneBody;
  return m.func(
    `tile_${type}_${R}x${B}`,
    {
      w: "i64", // row 0 of the tile
      rowStride: "i64", // bytes between the tile's rows in the weights
      xs: "i64", // token 0's first activation record
      xStride: "i64", // bytes between tokens' records
      supers: "i32", // super-blocks per row
      out: "i64", // out[t0, row 0]
      outStride: "i64", // bytes between tokens in out
      outRowStride: "i64", // bytes between the tile's rows in out
    },
    null,
    (f, p) => {
      const wp = range(R).map((i) => f.local(`w${i}`, "i64"));
      const xp = range(B).map((t) => f.local(`x${t}`, "i64"));
      // Row form: [row][token], four partial sums each; row-lane form: [group][token].
      const acc = range(grouped ? Math.ceil(R / 4) : R).map((i) =>
        range(B).map((t) => f.local(`acc${i}_${t}`, "v128"))
      );
      const s = f.local("s", "i32");
      f.set(wp[0], p.w);
      for (let i = 1; i < R; i++) f.set(wp[i], i64.add(wp[i - 1], p.rowStride));
      f.set(xp[0], p.xs);
      for (let t = 1; t < B; t++) f.set(xp[t], i64.add(xp[t - 1], p.xStride));
      f.forRange(s, i32.const(0), p.supers, 1, () => {
        if (laneBody) {
          fmt.emitLanes!(f, { target, wp, xp, acc });
        } else if (lanes === undefined) {
          fmt.emit!(f, { target, wp, xp, acc });
        } else {
          emitLaneBlock(f, { target, wp, xp, acc }, lanes, RECORDS[fmt.activations as RecordForm]);
        }
        for (const w of wp) f.set(w, i64.add(w, i64.const(fmt.superBytes)));
        const bytes = (recordBytes(fmt) * fmt.superElements) / 32;
        for (const x of xp) f.set(x, i64.add(x, i64.const(bytes)));
      });
      for (let t = 0; t < B; t++) {
        const out = i64.add(p.out, i64.mul(p.outStride, i64.const(t)));
        const at = (row: number) => i64.add(out, i64.mul(p.outRowStride, i64.const(row)));
        for (let i = 0; i < R; i++) {
          let sum: Expr;
          if (grouped) {
            sum = f32x4.extractLane(acc[i >> 2][t], i & 3);
          } else if (fmt.oneLane) {
            sum = f32x4.extractLane(acc[i][t], 0);
          } else {
            const a = acc[i][t];
            sum = f32.add(
              f32.add(f32x4.extractLane(a, 0), f32x4.extractLane(a, 1)),
              f32.add(f32x4.extractLane(a, 2), f32x4.extractLane(a, 3)),
            );
          }
          f.emit(f32.store(S, at(i), sum));
        }
      }
    },
    `${R} row${R === 1 ? "" : "s"} × ${B} token${B === 1 ? "" : "s"} of ${type} weights ` +
      `against ${fmt.activations === "f32" ? "float32" : "8-bit"} activations` +
      (grouped ? ", four rows to a vector." : "."),
  );
}

/**
 * Emits `matmul_<type>(w, rowBytes, cols, x, out, outStride, tokens, rowStart, rowEnd,
 * scratch, xReady, oneRow)` for a block type: out[t · outStride + r] = W[r, :] · X[t, :].
 * Addresses are bytes: `w` (row 0) in the weights memory, the rest in the state memory;
 * `scratch` holds at least `3 · tokens · cols` bytes; `cols` is a whole number of the type's
 * blocks. With one token, `oneRow` non-zero takes 1-row tiles, one after another, instead of
 * the plan's `vectorRows` rows from as many runs: which is faster depends on the processor
 * (`decode_rows.ts` times both); the results are the same.
 *
 * @param m The module.
 * @param target Memories and options.
 * @param type The block type.
 * @param plan Tile sizes.
 * @param activations `f32` for the float32 variant of Q8_0 and Q4_0 (measured, not used).
 * @returns The exported function.
 */
export function emitBlockMatMul(
  m: ModuleBuilder,
  target: KernelTarget,
  type: BlockStorageType,
  plan: BlockTilePlan = DEFAULT_BLOCK_TILES[type],
  activations: BlockActivations = "q8",
): FunctionRef {
  const fmt = activations === "f32" && (type === "q8_0" || type === "q4_0")
    ? FLOAT_BLOCK_FORMATS[type]
    : blockFormatFor(type, target);
  const quantize = fmt.activations === "f32" ? null : emitQuantizeX(m, target, fmt.activations);
  const tiles = new Map<string, FunctionRef>();
  const tile = (r: number, b: number) => {
    const key = `${r}x${b}`;
    if (!tiles.has(key)) tiles.set(key, emitBlockTile(m, target, type, fmt, r, b));
    return tiles.get(key)!;
  };
  // Rows left over at the end of a range (fewer than a tile) take 1-row tiles: each tile is
  // large (a K-quant super-block is unrolled), and emitting every size took ~200 ms at startup.
  tile(plan.vectorRows, 1);
  for (const r of new Set([1, plan.rows])) for (let b = 1; b <= plan.tokens; b++) tile(r, b);

  return m.func(
    `matmul_${type}`,
    {
      w: "i64",
      rowBytes: "i32",
      cols: "i32",
      x: "i64",
      out: "i64",
      outStride: "i32",
      tokens: "i32",
      rowStart: "i32",
      rowEnd: "i32",
      scratch: "i64",
      xReady: "i32", // non-zero: the scratch already holds X's records
      oneRow: "i32", // non-zero: one token takes 1-row tiles instead of the plan's vectorRows
    },
    null,
    (f, p) => {
      const r = f.local("r", "i32"), t = f.local("t", "i32");
      const nr = f.local("nr", "i32"), nb = f.local("nb", "i32"), block = f.local("block", "i32");
      const rowsPerTile = f.local("rowsPerTile", "i32"), supers = f.local("supers", "i32");
      const rowBytes = f.local("rowBytes64", "i64"), xStride = f.local("xStride", "i64");
      const outStride = f.local("outStride64", "i64");
      f.set(supers, i32.divU(p.cols, i32.const(fmt.superElements)));
      f.set(rowBytes, i64.extendI32U(p.rowBytes));
      f.set(
        xStride,
        i64.extendI32U(i32.mul(i32.shrU(p.cols, i32.const(5)), i32.const(recordBytes(fmt)))),
      );
      f.set(outStride, i64.extendI32U(i32.shl(p.outStride, i32.const(2))));
      f.set(block, i32.const(plan.tokens));
      f.set(rowsPerTile, i32.const(plan.rows));
      f.if(i32.eq(p.tokens, i32.const(1)), () => {
        f.set(block, i32.const(1));
        f.set(rowsPerTile, i32.const(plan.vectorRows));
        f.if(p.oneRow, () => f.set(rowsPerTile, i32.const(1)));
      });
      const xs = quantize === null ? p.x : p.scratch;
      if (quantize !== null) {
        f.if(i32.eqz(p.xReady), () => f.emit(call(quantize, p.x, p.cols, p.tokens, p.scratch)));
      }
      const args = (row: Expr, rowStride: Expr, token: Expr, outRowStride: Expr) => [
        i64.add(p.w, i64.mul(i64.extendI32U(row), rowBytes)),
        rowStride,
        i64.add(xs, i64.mul(i64.extendI32U(token), xStride)),
        xStride,
        supers,
        i64.add(
          p.out,
          i64.add(
            i64.mul(i64.extendI32U(token), outStride),
            i64.extendI32U(i32.shl(row, i32.const(2))),
          ),
        ),
        outStride,
        outRowStride,
      ];
      f.if(
        i32.and(i32.eq(p.tokens, i32.const(1)), i32.gtS(rowsPerTile, i32.const(1))),
        () => {
          // One token: rows from runs of the range (`callRunTiles`).
          const rows = { start: p.rowStart, end: p.rowEnd, perTile: rowsPerTile, bytes: rowBytes };
          callRunTiles(
            f,
            tiles,
            addressOps("i64"),
            rows,
            nr,
            nb,
            (row, stride, outRowStride) => args(row, stride, i32.const(0), outRowStride),
          );
        },
        () => {
          // Tokens in spans whose activations stay in L2 while every row of the range passes.
          const t0 = f.local("t0", "i32"), span = f.local("span", "i32");
          const tEnd = f.local("tEnd", "i32");
          f.set(span, i32.divU(i32.const(ACTIVATION_SPAN_BYTES), i32.wrapI64(xStride)));
          f.set(span, i32.mul(i32.divU(span, block), block));
          f.if(i32.ltS(span, block), () => f.set(span, block));
          f.forRange(t0, i32.const(0), p.tokens, span, () => {
            f.set(tEnd, i32.add(t0, span));
            f.if(i32.gtS(tEnd, p.tokens), () => f.set(tEnd, p.tokens));
            f.forRange(r, p.rowStart, p.rowEnd, nr, () => {
              f.set(nr, i32.sub(p.rowEnd, r));
              f.if(
                i32.geS(nr, rowsPerTile),
                () => f.set(nr, rowsPerTile),
                () => f.set(nr, i32.const(1)),
              );
              f.forRange(t, t0, tEnd, nb, () => {
                f.set(nb, i32.sub(tEnd, t));
                f.if(i32.gtS(nb, block), () => f.set(nb, block));
                callTile(f, tiles, nr, nb, args(r, rowBytes, t, i64.const(4)));
              });
            });
          });
        },
      );
    },
    `out (tokens, d) = X (tokens, cols) @ W^T for rows [rowStart, rowEnd) of ${type} weights, ` +
      `${
        fmt.activations === "f32" ? "X as float32" : "X quantized to 8 bits per 32"
      }. Tiles: ${plan.rows}×${plan.tokens} for prefill, ` +
      `${plan.vectorRows}×1 for one token.`,
  );
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
