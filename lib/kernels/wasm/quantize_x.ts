/**
 * Activations quantized to 8 bits per block of 32, as llama.cpp does before multiplying them
 * with quantized weights: each token's row `X[t, 32k .. 32k + 32)` becomes `dx · xq` with
 * `dx = max |x| / 127` and `xq = round(x / dx)` (ties to even), int8. The block-type kernels
 * (`block_matmul.ts`) then do the multiply-adds in integers, 16 or 32 per instruction, and
 * scale once per block.
 *
 * The K-quant form shares one `dx` among the 256 elements of a super-block (the largest |x|
 * of the 256), as llama.cpp's Q8_K does: the K-quant kernels then keep a whole super-block's
 * sums, its sub-block scales applied, in integers and scale once per 256 instead of once per
 * 32. The cost is precision where a few channels are far larger than the rest (a normed Llama
 * residual stream): `bench/block_activation_error.ts` measures 2.3e-2 relative error against
 * 8.6e-3 with one `dx` per 32; measured gain, one thread: Q4_K decode +12%, prefill +16%,
 * Q6_K +3% and +7%.
 *
 * One record per block of 32, token after token ({@linkcode RECORDS}):
 *
 * ```text
 * bytes 0–31   xq[32]   int8          (the wide form, for Q8_0: bytes 0–63, max(xq, 0) then
 *                                      max(−xq, 0) as bytes; xq as int16 without relaxed SIMD)
 * the 8-bit form (Q4_0, Q5_0):
 * bytes 32–47  dx                  float32 × 4, the same in every lane
 * bytes 48–63  −8 · Σ xq · dx      float32 × 4, the same in every lane
 * the wide form (Q8_0):
 * bytes 64–79  dx                  float32 × 4, the same in every lane
 * the biased form (Q8_0 where its weights are biased to unsigned bytes, `block_formats.ts`):
 * bytes 32–47  dx                  float32 × 4, the same in every lane
 * bytes 48–63  −128 · Σ xq         int32 × 4, the same in every lane
 * the K-quant form:
 * bytes 32–35  dx                  float32
 * bytes 48–63  super-block sums in the first three records of each 256:
 *              records 0, 1: Σ xq of each 16-element half of the 8 records (int16 × 16);
 *              record 2: Σ xq of each of the 8 records (int16 × 8)
 * ```
 *
 * The row-lane tiles (Q4_0, Q5_0, Q8_0) keep four rows in the four lanes of a vector, so they
 * read `dx` as a whole vector (one load, where a broadcast took an address computation more),
 * and the 8-bit form's scaled total lets them take off the offset `o` of weights stored as
 * `q − o` (Q4_0: 8, Q5_0: 16, twice the total) in the float step: `Σ q · xq · dx − o · Σ xq ·
 * dx`, one fused multiply-add, where the integer `Σ q · xq + o · (−Σ xq)` took two instructions
 * more before it. The super-block sums let the K-quants take off their minimums (Q4_K, Q5_K:
 * `Σ m · Σ xq`) and offsets (Q6_K: `32 · Σ sc · Σ xq` per 16) once per super-block, in one or
 * two integer dot products.
 *
 * @example
 * ```ts
 * import { emitQuantizeX } from "./quantize_x.ts";
 * import { ModuleBuilder } from "../../wasm/module.ts";
 *
 * const m = new ModuleBuilder();
 * const memory = { address: "i64", shared: true, minimum: 1, maximum: 65536 } as const;
 * const target = { weights: m.importMemory("weights", memory), state: m.importMemory("state", memory), fma: true };
 * emitQuantizeX(m, target, "q8");
 * ```
 *
 * @module
 */

import type { Expr, FunctionRef, Local, ModuleBuilder } from "../../wasm/module.ts";
import { f32, f32x4, i16x8, i32, i32x4, i64, i8x16, v128 } from "../../wasm/ops.ts";
import type { KernelTarget } from "./matmul.ts";

/** Where the fields of one block's record lie, and its size. */
export interface RecordLayout {
  /** Bytes of the record; the records of a token follow each other. */
  readonly bytes: number;
  /** `dx` (float32; in four lanes with `dxLanes`). */
  readonly dx: number;
  /** Whether `dx` fills a 16-byte vector. */
  readonly dxLanes: boolean;
  /** `−8 · Σ xq · dx` in four float32 lanes (−1: none). */
  readonly scaledTotal: number;
  /** `−128 · Σ xq` in four int32 lanes (−1: none). */
  readonly biasTotal: number;
}

/**
 * The record of each form: one 64-byte cache line for int8 xq, 80 bytes for int16. Measured
 * against the 128-byte records before (one thread, same weights): the records of an
 * 8192-column row now fit in the 32 KiB L1, and Q4_K and Q6_K decode such rows 46% and 39%
 * faster; prefill of 2048 columns +21% and +14%; Q4_0 and Q8_0 +2–4%.
 */
export const RECORDS: { readonly [F in RecordForm]: RecordLayout } = {
  q8: { bytes: 64, dx: 32, dxLanes: true, scaledTotal: 48, biasTotal: -1 },
  q8_k: { bytes: 64, dx: 32, dxLanes: false, scaledTotal: -1, biasTotal: -1 },
  q8_wide: { bytes: 80, dx: 64, dxLanes: true, scaledTotal: -1, biasTotal: -1 },
  q8_biased: { bytes: 64, dx: 32, dxLanes: true, scaledTotal: -1, biasTotal: 48 },
};

/**
 * Where the K-quant form keeps its super-block sums, in the first three records of each 256
 * (byte 48 on): Σ xq of each 16-element half, halves 0–7 in record 0 and 8–15 in record 1, and
 * Σ xq of each of the 8 records in record 2 (int16 × 8 each).
 */
export const SUPER_SUMS = { halves: [0, 1], records: 2, at: 48 } as const;

/**
 * The forms of the records: int8 xq, int16 xq (for Q8_0), int8 with super-block sums, or int8
 * with `−128 · Σ xq` (for Q8_0's biased weights).
 */
export type RecordForm = "q8" | "q8_wide" | "q8_k" | "q8_biased";

/**
 * Whether the wide records hold xq as two 7-bit parts, `max(xq, 0)` and `max(−xq, 0)`, instead
 * of int16: with relaxed SIMD, Q8_0's signed weights then meet them in 8-bit dot products
 * (`pmaddubsw`, or `vpdpbusd` with AVX-VNNI), 16 products an instruction instead of 8.
 *
 * @param target The kernels' target.
 * @returns `true` when the split form is used.
 */
export function splitsWide(target: KernelTarget): boolean {
  return target.fma || target.dotAdd === true;
}

/**
 * Emits `quantize_x_<form>`: X (tokens, cols) float32 → records at `dst`, `cols / 32` per
 * token. `cols` is a multiple of 32 (of 256 for the K-quant form).
 *
 * @param m The module.
 * @param target Memories and options.
 * @param form `q8_wide` stores xq as int16 (for int8 weights, whose products need 16-bit
 *   lanes), or with relaxed SIMD ({@linkcode splitsWide}) as `max(xq, 0)` and `max(−xq, 0)`;
 *   `q8_k` adds the super-block sums.
 * @returns The function.
 */
export function emitQuantizeX(
  m: ModuleBuilder,
  target: KernelTarget,
  form: RecordForm,
): FunctionRef {
  const S = target.state;
  const wide = form === "q8_wide", layout = RECORDS[form];
  const name = `quantize_x_${form}`;
  const existing = m.functions.find((f) => f.name === name);
  if (existing !== undefined) return existing;
  return m.func(
    name,
    { x: "i64", cols: "i32", tokens: "i32", dst: "i64" },
    null,
    (f, p) => {
      const k = f.local("k", "i32"), blocks = f.local("blocks", "i32");
      const v = Array.from({ length: 8 }, (_, i) => f.local(`v${i}`, "v128"));
      const h = Array.from({ length: 4 }, (_, i) => f.local(`h${i}`, "v128"));
      const amax = f.local("amax", "v128"), a = f.local("a", "f32"), id = f.local("id", "f32");
      const lo = f.local("lo", "v128"), hi = f.local("hi", "v128"), sums = f.local("sums", "v128");
      f.set(blocks, i32.mul(p.tokens, i32.shrU(p.cols, i32.const(5))));
      // Tokens' rows are contiguous, so every token's blocks follow each other: one loop.
      const superMax = f.local("superMax", "f32"), j = f.local("j", "i32");
      // Magnitudes are floats ≥ 0, whose bits order as integers do: `i32x4.max_s` is one
      // `pmaxsd`, where V8 builds `f32x4.max` (with its NaN and −0 rules) from nine
      // instructions and `f32.max` from a compare and branches. Quantizing a 128 × 8192 input
      // went from 1.15 to 0.46 ns per float, with the relaxed truncation below.
      const most = (a: Expr, b: Expr) => i32x4.maxS(a, b);
      const largest = (v: Local) => {
        f.set(
          v,
          most(v, i8x16.shuffle(v, v, [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7])),
        );
        f.set(
          v,
          most(v, i8x16.shuffle(v, v, [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11])),
        );
        return f32x4.extractLane(v, 0);
      };
      const lanes = (v: Local) =>
        i32.add(
          i32.add(i32x4.extractLane(v, 0), i32x4.extractLane(v, 1)),
          i32.add(i32x4.extractLane(v, 2), i32x4.extractLane(v, 3)),
        );
      f.forRange(k, i32.const(0), blocks, 1, () => {
        if (form === "q8_k") {
          // One dx for the 256 of a super-block: its largest |x|, found at its first block.
          f.if(i32.eqz(i32.and(k, i32.const(7))), () => {
            f.set(amax, v128.i32x4(0));
            f.forRange(j, i32.const(0), i32.const(64), 1, () => {
              const at = i64.add(p.x, i64.extendI32U(i32.shl(j, i32.const(4))));
              f.set(amax, most(amax, f32x4.abs(v128.load(S, at))));
            });
            f.set(superMax, largest(amax));
          });
        }
        for (let i = 0; i < 8; i++) f.set(v[i], v128.load(S, p.x, 16 * i));
        f.set(amax, f32x4.abs(v[0]));
        for (let i = 1; i < 8; i++) f.set(amax, most(amax, f32x4.abs(v[i])));
        f.set(a, form === "q8_k" ? superMax : largest(amax));
        f.set(id, f32.const(0));
        f.if(f32.gt(a, f32.const(0)), () => f.set(id, f32.div(f32.const(127), a)));
        // |x · id| ≤ 127 (NaN aside), so the relaxed truncation is exact where it validates.
        const truncate = target.fma ? i32x4.relaxedTruncF32x4S : i32x4.truncSatF32x4S;
        const scaled = (i: number) => truncate(f32x4.nearest(f32x4.mul(v[i], f32x4.splat(id))));
        for (let i = 0; i < 4; i++) {
          f.set(h[i], i16x8.narrowI32x4S(scaled(2 * i), scaled(2 * i + 1)));
        }
        if (wide && splitsWide(target)) {
          // xq's positive and negative parts, each 0 … 127: the 7-bit operand of the 8-bit dot
          // products, against Q8_0's signed weights (|xq| ≤ 127, so −xq does not wrap).
          const zero = v128.i32x4(0);
          f.set(lo, i8x16.narrowI16x8S(h[0], h[1]));
          f.set(hi, i8x16.narrowI16x8S(h[2], h[3]));
          f.emit(v128.store(S, p.dst, i8x16.maxS(lo, zero)));
          f.emit(v128.store(S, p.dst, i8x16.maxS(hi, zero), 16));
          f.emit(v128.store(S, p.dst, i8x16.maxS(i8x16.neg(lo), zero), 32));
          f.emit(v128.store(S, p.dst, i8x16.maxS(i8x16.neg(hi), zero), 48));
        } else if (wide) {
          for (let i = 0; i < 4; i++) f.emit(v128.store(S, p.dst, h[i], 16 * i));
        } else {
          f.set(lo, i8x16.narrowI16x8S(h[0], h[1]));
          f.set(hi, i8x16.narrowI16x8S(h[2], h[3]));
          f.emit(v128.store(S, p.dst, lo));
          f.emit(v128.store(S, p.dst, hi, 16));
          // Σ xq of each half, in groups of 4 lanes, and of all 32.
          const quads = (b: typeof lo) => i32x4.extaddPairwiseI16x8S(i16x8.extaddPairwiseI8x16S(b));
          f.set(lo, quads(lo));
          f.set(hi, quads(hi));
          f.set(sums, i32x4.add(lo, hi));
        }
        f.set(a, f32.div(a, f32.const(127)));
        if (layout.dxLanes) f.emit(v128.store(S, p.dst, f32x4.splat(a), layout.dx));
        else f.emit(f32.store(S, p.dst, a, layout.dx));
        if (layout.biasTotal >= 0) {
          // −128 · Σ xq, exact in int32: what Q8_0's weights biased by 128 add to each sum.
          const total = i32.mul(lanes(sums), i32.const(-128));
          f.emit(v128.store(S, p.dst, i32x4.splat(total), layout.biasTotal));
        }
        if (layout.scaledTotal >= 0) {
          // One rounding (−Σ xq · dx); the 8 is exact.
          const total = i32.sub(i32.const(0), lanes(sums));
          const scaled = f32.mul(f32.mul(f32.convertI32S(total), a), f32.const(8));
          f.emit(v128.store(S, p.dst, f32x4.splat(scaled), layout.scaledTotal));
        }
        if (form === "q8_k") {
          // Record r of its super-block (k mod 8) writes Σ xq of its two halves (16 each) as
          // int16 into record 0 of the super-block, at half j = 2r + h, and Σ xq of all 32
          // into record 1, at r.
          const r = i64.extendI32U(i32.and(k, i32.const(7)));
          const group = i64.sub(p.dst, i64.mul(r, i64.const(layout.bytes)));
          const at = (record: number, slot: Expr) =>
            i64.add(group, i64.add(i64.const(layout.bytes * record), slot));
          // Halves 2r and 2r + 1: record r >> 2 of the two, int16 4 · (r & 3) and the next.
          const halves = i64.add(
            i64.mul(i64.shrU(r, i64.const(2)), i64.const(layout.bytes)),
            i64.shl(i64.and(r, i64.const(3)), i64.const(2)),
          );
          f.emit(i32.store16(S, at(SUPER_SUMS.halves[0], halves), lanes(lo), SUPER_SUMS.at));
          f.emit(i32.store16(S, at(SUPER_SUMS.halves[0], halves), lanes(hi), SUPER_SUMS.at + 2));
          const whole = at(SUPER_SUMS.records, i64.shl(r, i64.const(1)));
          f.emit(i32.store16(S, whole, lanes(sums), SUPER_SUMS.at));
        }
        f.set(p.x, i64.add(p.x, i64.const(128)));
        f.set(p.dst, i64.add(p.dst, i64.const(layout.bytes)));
      });
    },
    `X (tokens, cols) → one ${layout.bytes}-byte record per 32 floats: ` +
      `int${wide ? "16" : "8"} xq = round(x / dx), dx = max |x| / 127${wide ? "" : ", and −Σ xq"}${
        form === "q8_k" ? "; one dx per 256, and sums by super-block" : ""
      }.`,
  );
}
