/**
 * How each of ggml's block types meets the 8-bit activations of `quantize_x.ts` in WebAssembly
 * SIMD: for one super-block of a tile's rows, each format unpacks the weights' integers into
 * 16-byte vectors, multiplies them with the activations' int8 in integer dot products, and adds
 * the result, scaled, to the tile's float32 accumulators.
 *
 * **The integer dot product.** `i16x8.relaxed_dot_i8x16_i7x16_s(xq, q)` multiplies 16 signed
 * bytes of activations by 16 weights from 0 to 127 and adds each pair of products into a 16-bit
 * lane (one `pmaddubsw` on x86-64): 16 multiply-adds in one instruction. Every format except
 * Q8_0 stores unsigned integers below 64 with an offset, `w = s · (q − o)` (Q4_0: `o` = 8,
 * Q5_0: 16, Q6_K: 32) or `w = s · q − mn` (Q4_K, Q5_K), so `q` fits the 7-bit operand; the two
 * halves of a block are added in 16 bits, widened pairwise to 32, and `o · (−Σ xq)` (kept in
 * each activation record) is added to give `Σ (q − o) · xq`. Q8_0's weights are full signed
 * bytes, so for Q8_0 the activations are the 7-bit operand: they are kept as `max(xq, 0)` and
 * `max(−xq, 0)`, and `Σ w · xq` is the difference of the two dot products. Where the
 * accumulating form is one `vpdpbusd`, which reads its second operand as unsigned bytes
 * (`dotAddIsUnsigned`), Q8_0 instead flips its weights' sign bits, `w + 128` from 0 to 255, and
 * takes `128 · Σ xq` off in integers: two dot products per 32 weights instead of four (one
 * thread, Zen 5, same process: prefill 44.3 → 63.3 GFLOP/s, decode 17.3 → 18.9 GB/s; the 1B Q8_0
 * model's prefill 44 → 65 tokens/s). Without relaxed SIMD,
 * Q8_0's weights are widened to 16 bits on load (`v128.load8x8_s`) and meet activations kept as
 * int16 in `i32x4.dot_i16x8_s`, 8 products per instruction, and the 7-bit dot product of the
 * other formats is done the same way.
 *
 * **With AVX-VNNI** (`KernelTarget.dotAdd`, chosen by `dot_add_probe.ts`), Q4_0, Q5_0 and Q5_K
 * use `i32x4.relaxed_dot_i8x16_i7x16_add_s` instead: one `vpdpbusd` multiplies, adds in fours
 * and accumulates into int32 lanes (one thread, on a Xeon with AVX-VNNI: Q4_0 prefill +26%,
 * decode +17%; Q5_0 prefill +15%; Q5_K +6%; Q8_0 +16% against int16 activations). V8 expands
 * the instruction to three without AVX-VNNI (on a Zen 4, with AVX-512 VNNI only, the kernels
 * ran 15–35% slower with it).
 *
 * **Interleaved prefill.** Where the dot product is unsigned `vpdpbusd`, a prefill tile of Q4_0
 * or Q8_0 interleaves each block of four rows by 4 bytes ({@linkcode interleave}), so that 8 dot
 * products against a token's broadcast activations leave each row's sum in its own lane
 * (`interleavedDot`): one thread, Zen 5, Q4_0 +12–20%, Q8_0 +7%.
 *
 * **Scaling.** Q8_0, Q4_0 and Q5_0 are in the *row-lane* form ({@linkcode LaneFormat}): per
 * block of 32, the exact integer sums of four rows are gathered into the four lanes of one
 * vector, then `acc += f32(Σ (q − o) · xq) · (d · dx)` once for the four rows (their `d`
 * widened together). Measured against the row form it replaced (four partial sums per row, a
 * conversion, a broadcast scale and a multiply-add per row and block), in one process on the
 * same weights: Q4_0 decode +10%, Q4_0 prefill +18%, Q8_0 the same. Q4_K and Q5_K have a
 * row-lane body too, for tiles of four rows (`BlockFormat.emitLanes`); otherwise the K-quants
 * keep the row form, with one `dx` per super-block (the K-quant records): each sub-block's
 * dot product is
 * scaled by its integer scale in integers (one `i32x4.dot_i16x8_s` with the scale broadcast,
 * which also widens the pairs), the minimums (Q4_K, Q5_K: `Σ m · Σ xq`) and the offset (Q6_K:
 * `32 · Σ sc · Σ xq`) come from the records' super-block sums in one or two integer dot
 * products, and the super-block takes one conversion and one or two multiply-adds per row and
 * token. Those integer sums are totalled exactly before the float step, so that both bodies
 * give every row the same bits.
 *
 * @module
 */

import type { BlockStorageType } from "../../tensor/storage.ts";
import type { Expr, FunctionBuilder, Local } from "../../wasm/module.ts";
import { f32x4, i16x8, i32, i32x4, i8x16, v128 } from "../../wasm/ops.ts";
import { f16TopToF32, type KernelTarget, madd } from "./matmul.ts";
import {
  type RecordForm,
  type RecordLayout,
  RECORDS,
  splitsWide,
  SUPER_SUMS,
} from "./quantize_x.ts";

/** What a format's emitter sees of the tile it works for. */
export interface BlockTile {
  readonly target: KernelTarget;
  /** Row pointers at the current super-block, in the weights memory. */
  readonly wp: readonly Local[];
  /** Token pointers at the super-block's first activation record, in the state memory. */
  readonly xp: readonly Local[];
  /** Accumulators, `[row][token]`, four float32 lanes each. */
  readonly acc: readonly (readonly Local[])[];
}

/** One block type's SIMD kernel body, in one of two forms. */
export interface BlockFormat {
  /** Weights of one super-block (32 or 256). */
  readonly superElements: number;
  /** Its bytes. */
  readonly superBytes: number;
  /**
   * How the body reads the activations: `q8` records, `q8_wide` records (xq as int16, for
   * Q8_0), `q8_k` records (with super-block sums, for the K-quants), or `f32`: X itself, 128
   * bytes per 32 floats (the float32 variant measured against).
   */
  readonly activations: RecordForm | "f32";
  /**
   * Row form: adds one super-block of every row of the tile to its accumulators, four partial
   * sums per row and token ({@linkcode BlockTile}).
   */
  readonly emit?: (f: FunctionBuilder, tile: BlockTile) => void;
  /** Row-lane form, for blocks of 32 with their float16 `d` at byte 0 ({@linkcode LaneTile}). */
  readonly lanes?: LaneFormat;
  /**
   * Row form whose accumulators hold the row's value in every lane (the K-quants: each
   * super-block's integer sums are totalled exactly before the float step), so the tile
   * stores lane 0 instead of adding the four.
   */
  readonly oneLane?: boolean;
  /**
   * A K-quant body in the row-lane form, for tiles of whole groups of 4 rows (prefill and one
   * token): lane r of each accumulator is row r, as in {@linkcode LaneTile}. It gives the same bits as the
   * row form, whose sums it computes exactly too, in another order.
   */
  readonly emitLanes?: (f: FunctionBuilder, tile: LaneTile) => void;
}

/**
 * A block type in the row-lane form: the tile sums each row's integer dot product across its
 * lanes and gathers four rows into the lanes of one vector (lane r: row r), so the offset, the
 * conversion to float, the scale `d · dx` and the multiply-add are done once for four rows
 * instead of once per row, and no scale is broadcast. The sums are exact integers, so a row's
 * result does not depend on which rows share its vector.
 */
export interface LaneFormat {
  /** `o` of `w = d · (q − o)`: the tile adds `o · (−Σ xq)` to every row's sum (0: none). */
  readonly offset: 0 | 8 | 16;
  /** Whether four int16 lanes of `dot` add without overflow (Q4_0: `q` below 16). */
  readonly fourLanesFitInt16: boolean;
  /** Unpacks one row's block at `w` into temporaries named after `row`, read by `dot`. */
  unpack(f: FunctionBuilder, t: KernelTarget, w: Local, row: number): Local[];
  /** `Σ q · xq` of that row and the token whose record is at `x`, in 8 int16 or 4 int32 lanes. */
  dot(f: FunctionBuilder, t: KernelTarget, w: Local, q: Local[], x: Local): RowDot;
  /**
   * Unpacks one block of four rows at `w` interleaved ({@linkcode interleave}): 8 vectors, vector
   * j holding elements `4j … 4j + 3` of row r in lane r, as the bytes the unsigned dot product
   * reads. Formats without it take the per-row `unpack` and `dot` everywhere.
   */
  interleaved?(f: FunctionBuilder, t: KernelTarget, w: readonly Local[]): Local[];
}

/** A row's integer dot product, its lanes summing to it. */
export interface RowDot {
  readonly lanes: 4 | 8;
  readonly value: Expr;
}

/** What a row-lane format's block sees of its tile. */
export interface LaneTile {
  readonly target: KernelTarget;
  /** Row pointers at the current block, in the weights memory. */
  readonly wp: readonly Local[];
  /** Token pointers at the block's activation record, in the state memory. */
  readonly xp: readonly Local[];
  /** Accumulators `[group][token]`: lane r of group g is row 4g + r. */
  readonly acc: readonly (readonly Local[])[];
}

const LOW32 = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
const HIGH32 = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
const LOW64 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const HIGH64 = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];

/**
 * Four rows' dot products summed across their lanes into one int32 vector, lane r for row r:
 * rows interleaved by 32 bits and added (int16 lanes add in pairs first: each at most 2 ·
 * 15748, which fits), then by 64 bits. Missing rows (null) count as zero. Every value that two
 * shuffles read goes through a local: V8 would compute an expression read twice twice.
 *
 * With `narrow` (Q4_0: each int16 lane at most 2 · 2 · 15 · 127 = 7620, so four add to at most
 * 30480) the 64-bit step adds in int16 too and one widening serves all four rows instead of
 * one per pair: 10 instructions instead of 11. That widening is `i32x4.dot_i16x8_s`, and with
 * `multiplier` (int16 pairs, `[m0, m0, m1, m1, m2, m2, m3, m3]`) it also multiplies lane r by
 * `m_r`; without `narrow`, each pair of rows is widened, and `multiplier` is two vectors, one
 * per pair (`[m0, m0, m1, m1]` twice, `[m2, m2, m3, m3]` twice).
 */
function laneSums(
  f: FunctionBuilder,
  dots: readonly (RowDot | null)[],
  narrow: boolean,
  multiplier?: Expr | readonly [Expr, Expr],
): Expr {
  const v = [0, 1, 2, 3].map((j) => f.temp(`dot${j}`, "v128"));
  dots.forEach((dot, j) => f.set(v[j], dot?.value ?? v128.i32x4(0)));
  const wide = dots.some((dot) => dot?.lanes === 8);
  const pair = (a: Local, b: Local, into: Local, m?: Expr) => {
    const [lo, hi] = [i8x16.shuffle(a, b, LOW32), i8x16.shuffle(a, b, HIGH32)];
    const added = wide ? i16x8.add(lo, hi) : i32x4.add(lo, hi);
    const widened = m === undefined ? i32x4.extaddPairwiseI16x8S(added) : i32x4.dotI16x8S(added, m);
    f.set(into, wide && !narrow ? widened : added);
  };
  const perPair = Array.isArray(multiplier) ? multiplier : [];
  pair(v[0], v[1], v[0], perPair[0]);
  pair(v[2], v[3], v[2], perPair[1]);
  const [lo, hi] = [i8x16.shuffle(v[0], v[2], LOW64), i8x16.shuffle(v[0], v[2], HIGH64)];
  if (!(wide && narrow)) return i32x4.add(lo, hi);
  const sums = i16x8.add(lo, hi);
  return multiplier === undefined || Array.isArray(multiplier)
    ? i32x4.extaddPairwiseI16x8S(sums)
    : i32x4.dotI16x8S(sums, multiplier as Expr);
}

/**
 * Adjacent int16 lanes of `v` added into int32 lanes: `i32x4.dot_i16x8_s` with a hoisted
 * vector of ones. V8 compiles `i32x4.extadd_pairwise_i16x8_s` to the same `pmaddwd`, but with
 * its ones read from memory through an address it loads anew at every use. Used where it
 * measured fewer instructions in V8's code: the Q8_0 tiles (whole tile, 8 × 1: 441 → 427,
 * 4 × 8: 1184 → 1141; the 8 × 1 loop 403 → 389); in the Q4_0 and Q5_0 tiles the extra register
 * made more spills than it saved.
 */
function pairSums(f: FunctionBuilder, v: Expr): Expr {
  return i32x4.dotI16x8S(v, constant(f, new Array(8).fill([1, 0]).flat()));
}

/**
 * One block of every row of a row-lane tile: per group of four rows, their `d` gathered into
 * the top halves of four 32-bit lanes and widened in one vector; each row unpacked once; then
 * for each token `acc += f32(Σ q · xq + o · (−Σ xq)) · (d · dx)`, four rows at a time.
 */
export function emitLaneBlock(
  f: FunctionBuilder,
  tile: LaneTile,
  lanes: LaneFormat,
  record: RecordLayout,
): void {
  const { target: t, wp, xp, acc } = tile;
  const d = f.temp("d", "v128"), sum = f.temp("sum", "v128");
  acc.forEach((row, g) => {
    const rows = [0, 1, 2, 3].map((r) => 4 * g + r).filter((r) => r < wp.length);
    // `v128.load16_lane`: one instruction (`vpinsrw` from memory) where `i16x8.replace_lane`
    // of an `i32.load16_u` took two.
    let top: Expr = v128.i32x4(0);
    for (const r of rows) top = v128.load16Lane(t.weights, wp[r], top, 2 * (r & 3) + 1);
    f.set(d, f16TopToF32(top, f));
    // Several tokens of four rows meet the rows interleaved, where the dot product allows.
    const woven = lanes.interleaved !== undefined && t.unsignedDotAdd === true &&
      xp.length > 1 && rows.length === 4;
    const q = woven ? [] : rows.map((r) => lanes.unpack(f, t, wp[r], r));
    const u = woven ? lanes.interleaved!(f, t, rows.map((r) => wp[r])) : [];
    xp.forEach((x, k) => {
      if (woven) {
        f.set(sum, interleavedDot(f, t, u, x, record));
      } else {
        const dots = [0, 1, 2, 3].map((j) =>
          j < rows.length ? lanes.dot(f, t, wp[rows[j]], q[j], x) : null
        );
        f.set(sum, laneSums(f, dots, lanes.fourLanesFitInt16));
        if (record.biasTotal >= 0) {
          f.set(sum, i32x4.add(sum, v128.load(t.state, x, record.biasTotal)));
        }
      }
      const sums = f32x4.convertI32x4S(sum);
      const dx = record.dxLanes
        ? v128.load(t.state, x, record.dx)
        : v128.load32Splat(t.state, x, record.dx);
      if (lanes.offset === 0) {
        f.set(row[k], madd(t, sums, f32x4.mul(d, dx), row[k]));
      } else {
        // acc += d · (f32(Σ q · xq) · dx − o · Σ xq · dx), the offset taken off in float.
        const offset = f.temp("offset", "v128");
        f.set(offset, v128.load(t.state, x, record.scaledTotal));
        if (lanes.offset === 16) f.set(offset, f32x4.add(offset, offset));
        f.set(row[k], madd(t, madd(t, sums, dx, offset), d, row[k]));
      }
    });
  });
}

/**
 * Four rows' 16 bytes each (`v[r]`), interleaved by 4 bytes: vector j holds bytes `4j … 4j + 3`
 * of row r in lane r (a 4 × 4 transpose of 32-bit lanes, eight `punpck` instructions).
 */
export function interleave(f: FunctionBuilder, v: readonly Expr[], name: string): Local[] {
  const rows = v.map((e, r) => {
    const row = f.temp(`${name}v${r}`, "v128");
    f.set(row, e);
    return row;
  });
  const pairs = [0, 1].map((h) => [0, 1].map((lo) => f.temp(`${name}p${h}${lo}`, "v128")));
  // pairs[h][lo]: rows 2h and 2h + 1, 32-bit lanes 0–1 (lo) or 2–3, alternating.
  for (const h of [0, 1]) {
    f.set(pairs[h][0], i8x16.shuffle(rows[2 * h], rows[2 * h + 1], LOW32));
    f.set(pairs[h][1], i8x16.shuffle(rows[2 * h], rows[2 * h + 1], HIGH32));
  }
  return [0, 1, 2, 3].map((j) => {
    const out = f.temp(`${name}${j}`, "v128");
    const [a, b] = [pairs[0][j >> 1], pairs[1][j >> 1]];
    f.set(out, i8x16.shuffle(a, b, (j & 1) === 0 ? LOW64 : HIGH64));
    return out;
  });
}

/**
 * Four interleaved rows (`u`, see `LaneFormat.interleaved`) against one token's record at `x`:
 * each 4 activation bytes broadcast to every lane (`pshufd`), then 8 accumulating dot products
 * give row r's exact sum in lane r, no sums across lanes to gather (against `laneSums`' 9
 * instructions per token, and 2 loads of the activations in place of 8 broadcast loads). The
 * chain starts from the record's bias where it has one.
 */
function interleavedDot(
  f: FunctionBuilder,
  t: KernelTarget,
  u: readonly Local[],
  x: Local,
  record: RecordLayout,
): Expr {
  const xlo = f.temp("xlo", "v128"), xhi = f.temp("xhi", "v128");
  f.set(xlo, v128.load(t.state, x));
  f.set(xhi, v128.load(t.state, x, 16));
  // Two chains of dependent dot products, added at the end: one chain of 8 waited on the
  // instruction's latency (one thread, Zen 5: Q4_0 62.3 GFLOP/s against 70.8 before, two chains
  // 107.7 against 90.3 in a faster minute; four no better than two).
  const chains: Expr[] = [
    record.biasTotal >= 0 ? v128.load(t.state, x, record.biasTotal) : v128.i32x4(0),
    v128.i32x4(0),
  ];
  u.forEach((w, j) => {
    const half = j < 4 ? xlo : xhi, at = 4 * (j & 3);
    const broadcast = i8x16.shuffle(
      half,
      half,
      new Array(4).fill([0, 1, 2, 3].map((b) => at + b)).flat(),
    );
    chains[j & 1] = i32x4.relaxedDotI8x16I7x16AddS(broadcast, w, chains[j & 1]);
  });
  return i32x4.add(chains[0], chains[1]);
}

/** The float16 at `wp + offset` of the weights memory, in all four lanes. */
function halfSplat(t: KernelTarget, wp: Expr, offset: number): Expr {
  return f16TopToF32(i32x4.shl(v128.load16Splat(t.weights, wp, offset), i32.const(16)));
}

/**
 * The float16 scales at `wp[r] + offset` of a tile's rows, as float32: lane `r & 3` of vector
 * `r >> 2` holds row r's (a single row's fills every lane). `pair` reads two halves at once,
 * at `offset` and `offset + 2` (Q4_K, Q5_K: d and dmin), into two lists of vectors.
 *
 * Without a subnormal float32 on the way: the exponent is rebiased by adding 112 to it, or 113
 * for a subnormal half (exponent 0), which that turns into `±(2^-14 + m · 2^-24)`, from which
 * `±2^-14` is then taken off (exact). K-quant scales are often subnormal halves (Q6_K's `d` is
 * about max |w| / 4064), and a multiplication by a subnormal float32 costs the processor a
 * microcode assist: with `f16TopToF32`'s multiplication by 2^112, the Q6_K kernel ran 1.8×
 * slower on such weights than on normal ones. The steps run on four rows at once in vector
 * lanes; one row at a time in integer registers they took ~19 instructions a half, a sixth of
 * a 4-row Q4_K decode tile's. Measured against that (one thread, Zen 4, 2048 × 8192, same
 * process): Q4_K decode 9.0 → 10.5 GB/s, Q5_K 8.8 → 9.3, Q6_K +2%, prefill +3%; the 1B Q4_K_M
 * model's decode 18.4 → 22.0 tokens/s (two threads, six rounds taking turns).
 */
function rowHalves(
  f: FunctionBuilder,
  t: KernelTarget,
  wp: readonly Local[],
  offset: number,
  pair: boolean,
): Local[][] {
  const groups = range(Math.ceil(wp.length / 4));
  const raw = f.temp("halvesRaw", "v128");
  const out: Local[][] = pair ? [[], []] : [[]];
  for (const g of groups) {
    const rows = wp.slice(4 * g, 4 * g + 4);
    // Row r's halves in lane r: d in the low 16 bits, dmin (with `pair`) in the high 16.
    // Row 0's in every lane, then each other row's loaded into its own lane (the high halves
    // of a 16-bit read hold row 0's, shifted out below).
    let lanes: Expr = pair
      ? v128.load32Splat(t.weights, rows[0], offset)
      : v128.load16Splat(t.weights, rows[0], offset);
    rows.slice(1).forEach((w, r) =>
      lanes = pair
        ? v128.load32Lane(t.weights, w, lanes, r + 1, offset)
        : v128.load16Lane(t.weights, w, lanes, 2 * (r + 1), offset)
    );
    f.set(raw, lanes);
    const tops = [i32x4.shl(raw, i32.const(16))];
    if (pair) tops.push(v128.and(raw, f.hoist("f16High", v128.i32x4(0xffff0000 | 0))));
    tops.forEach((top, j) => {
      const result = f.temp(`halves${j}_${g}`, "v128");
      f.set(result, exactHalves(f, top));
      out[j].push(result);
    });
  }
  return out;
}

/** Float16s in the top halves of four int32 lanes, as float32 (see `rowHalves`). */
function exactHalves(f: FunctionBuilder, top: Expr): Expr {
  const k = (name: string, value: number) => f.hoist(name, v128.i32x4(value | 0));
  const bits = f.temp("halfBits", "v128"), subnormal = f.temp("halfSubnormal", "v128");
  f.set(bits, v128.and(i32x4.shrS(top, i32.const(3)), k("f16Mask", 0x8fffe000)));
  // All ones in the lanes whose half has exponent 0.
  f.set(subnormal, i32x4.eq(v128.and(bits, k("f16Exponent", 0x0f800000)), v128.i32x4(0)));
  const sign = v128.and(bits, k("f16Sign", 0x80000000));
  const offsetBits = v128.and(v128.or(sign, k("f16Offset", 0x38800000)), subnormal);
  const exponent = i32x4.add(
    k("f16Rebias", 0x38000000),
    v128.and(subnormal, k("f16Unit", 0x00800000)),
  );
  return f32x4.sub(i32x4.add(bits, exponent), offsetBits);
}

/** Row `row`'s lane of a `rowHalves` vector (scaled or not) in all four lanes. */
function rowLane(v: Expr, row: number): Expr {
  const lane = row & 3;
  return i8x16.shuffle(v, v, new Array(4).fill([0, 1, 2, 3].map((b) => 4 * lane + b)).flat());
}

/**
 * `Σ xq · q` over 32 bytes (`xlo, q0`: elements 0–15, `xhi, q1`: 16–31), `q` below 32, into 4
 * lanes. With relaxed SIMD: two 8-bit dot products into 16-bit lanes (each pair at most 2 ·
 * 127 · 31, so their sum fits), added, then widened pairwise: 4 instructions where two
 * `relaxed_dot_i8x16_i7x16_add_s` take 6 on processors without AVX-VNNI.
 */
function dotPair(t: KernelTarget, xlo: Expr, q0: Expr, xhi: Expr, q1: Expr): Expr {
  if (!t.fma) return wideDot(t, xhi, q1, wideDot(t, xlo, q0, v128.i32x4(0)));
  return i32x4.extaddPairwiseI16x8S(
    i16x8.add(i16x8.relaxedDotI8x16I7x16S(xlo, q0), i16x8.relaxedDotI8x16I7x16S(xhi, q1)),
  );
}

/** `Σ xq · q` over 16 bytes into 4 lanes, `q` below 64. */
function dotHalf(t: KernelTarget, xq: Expr, q: Expr): Expr {
  if (!t.fma) return wideDot(t, xq, q, v128.i32x4(0));
  return i32x4.extaddPairwiseI16x8S(i16x8.relaxedDotI8x16I7x16S(xq, q));
}

function wideDot(_t: KernelTarget, xq: Expr, q: Expr, c: Expr): Expr {
  // xq and q are each read twice: callers pass locals or loads (cheap from L1).
  const low = i32x4.dotI16x8S(i16x8.extendLowI8x16S(xq), i16x8.extendLowI8x16U(q));
  const high = i32x4.dotI16x8S(i16x8.extendHighI8x16S(xq), i16x8.extendHighI8x16U(q));
  return i32x4.add(c, i32x4.add(low, high));
}

/**
 * 16 bytes as a constant vector, computed once at the start of the kernel (`hoist`): V8 builds
 * a `v128.const` anew at every use, inside the loop.
 */
function constant(f: FunctionBuilder, bytes: readonly number[]): Local {
  const hex = bytes.map((b) => (b & 0xff).toString(16).padStart(2, "0")).join("");
  return f.hoist(`c${hex}`, v128.const([...bytes]));
}

const splat8 = (f: FunctionBuilder, byte: number) => constant(f, new Array(16).fill(byte));

/**
 * Low (`high` false) or high nibbles of 16 bytes. The shifts here and in `bitTo` are 16-bit
 * (`i16x8`): x86 has no byte shift, so V8 builds each `i8x16` shift from a 16-bit one and a
 * mask it makes anew every time, while the mask applied after the shift already clears every
 * bit that crossed from the neighbouring byte.
 */
function nibbles(f: FunctionBuilder, raw: Expr, high: boolean): Expr {
  return v128.and(high ? i16x8.shrU(raw, i32.const(4)) : raw, splat8(f, 0x0f));
}

/** Bits `bit … bit + width − 1` of each byte of `bytes`, moved to bit `to` (the others cleared). */
function bitTo(f: FunctionBuilder, bytes: Expr, bit: number, to: number, width = 1): Expr {
  const moved = bit < to
    ? i16x8.shl(bytes, i32.const(to - bit))
    : bit > to
    ? i16x8.shrU(bytes, i32.const(bit - to))
    : bytes;
  return v128.and(moved, splat8(f, ((1 << width) - 1) << to));
}

const K = RECORDS.q8_k;

/**
 * Eight int16 super-block sums of the K-quant records at `xp` (see `quantize_x.ts`): the half
 * sums 0–7 (`part` 0), 8–15 (1), or the records' sums (2).
 */
function superSums(t: KernelTarget, xp: Expr, part: 0 | 1 | 2): Expr {
  const record = part === 2 ? SUPER_SUMS.records : SUPER_SUMS.halves[part];
  return v128.load(t.state, xp, K.bytes * record + SUPER_SUMS.at);
}

/** The 16 activation bytes at `field` of K-quant record `record`. */
function xload(t: KernelTarget, xp: Expr, record: number, field: number): Expr {
  return v128.load(t.state, xp, K.bytes * record + field);
}

/** Q8_0 (34 bytes): d, then 32 int8, widened to int16 where they are read. */
const Q8_0: BlockFormat = {
  superElements: 32,
  superBytes: 34,
  activations: "q8_wide",
  lanes: {
    offset: 0,
    fourLanesFitInt16: false,
    unpack(f, t, w, row) {
      if (!t.dotAdd) return [];
      const w0 = f.temp(`w0_${row}`, "v128"), w1 = f.temp(`w1_${row}`, "v128");
      f.set(w0, v128.load(t.weights, w, 2));
      f.set(w1, v128.load(t.weights, w, 18));
      return [w0, w1];
    },
    dot(f, t, w, q, x) {
      if (t.dotAdd) {
        // Σ w · xq = Σ w · max(xq, 0) − Σ w · max(−xq, 0): four vpdpbusd, each lane at most
        // 8 · 127 · 127 in magnitude. Against int16 xq and pmaddwd (one thread, AVX-VNNI):
        // prefill +16%, decode the same.
        const part = (at: number) =>
          dotPair32(q[0], v128.load(t.state, x, at), q[1], v128.load(t.state, x, at + 16));
        return { lanes: 4, value: i32x4.sub(part(0), part(32)) };
      }
      if (splitsWide(t)) {
        // The same with pmaddubsw: each 16-bit lane of a part at most 2 · 127 · 127 = 32258,
        // and so is each lane of a half's difference, which is widened before the halves are
        // added; the weights are read where they are used (kept in registers, the 4 × 8
        // prefill tile spilled). Against int16 xq and pmaddwd (one thread, Zen 4, same
        // process): decode 14.8 → 15.5 and 10.0 → 10.9 GB/s in two runs, prefill 32.4 → 31.6
        // GFLOP/s (within the noise).
        const half = (j: number) => {
          const weights = v128.load(t.weights, w, 2 + 16 * j);
          const part = (at: number) =>
            i16x8.relaxedDotI8x16I7x16S(weights, v128.load(t.state, x, at));
          return pairSums(f, i16x8.sub(part(16 * j), part(32 + 16 * j)));
        };
        return { lanes: 4, value: i32x4.add(half(0), half(1)) };
      }
      const part = (j: number) =>
        i32x4.dotI16x8S(v128.load8x8S(t.weights, w, 2 + 8 * j), v128.load(t.state, x, 16 * j));
      return {
        lanes: 4,
        value: i32x4.add(i32x4.add(part(0), part(1)), i32x4.add(part(2), part(3))),
      };
    },
  },
};

/**
 * Q8_0 where the accumulating dot product reads its second operand as unsigned bytes
 * (`dotAddIsUnsigned`: one `vpdpbusd`): each weight's sign bit flipped makes it `w + 128`, from
 * 0 to 255, which meets the signed activations directly, `Σ (w + 128) · xq`, and the record's
 * `−128 · Σ xq` takes the bias off in integers. Two dot products per 32 weights and token
 * where the split activations take four, the same exact sums.
 */
const Q8_0_BIASED: BlockFormat = {
  superElements: 32,
  superBytes: 34,
  activations: "q8_biased",
  lanes: {
    offset: 0,
    fourLanesFitInt16: false,
    unpack(f, t, w, row) {
      const w0 = f.temp(`w0_${row}`, "v128"), w1 = f.temp(`w1_${row}`, "v128");
      f.set(w0, biasedBytes(f, t, w, 2));
      f.set(w1, biasedBytes(f, t, w, 18));
      return [w0, w1];
    },
    dot(_f, t, _w, [w0, w1], x) {
      const xlo = v128.load(t.state, x), xhi = v128.load(t.state, x, 16);
      return { lanes: 4, value: dotPair32(xlo, w0, xhi, w1) };
    },
    interleaved(f, t, w) {
      const half = (at: number) => w.map((p) => biasedBytes(f, t, p, at));
      return [...interleave(f, half(2), "wlo"), ...interleave(f, half(18), "whi")];
    },
  },
};

/** 16 of Q8_0's signed weights at `w + at`, their sign bits flipped: `w + 128`, unsigned. */
function biasedBytes(f: FunctionBuilder, t: KernelTarget, w: Expr, at: number): Expr {
  return v128.xor(v128.load(t.weights, w, at), splat8(f, 0x80));
}

/** Q4_0 and Q5_0: one float16 d at byte 0, 16 bytes of nibbles at `qs`, offset `o`. */
function zeroFormat(bytes: number, qs: number, offset: 8 | 16): BlockFormat {
  return {
    superElements: 32,
    superBytes: bytes,
    activations: "q8",
    lanes: {
      offset,
      fourLanesFitInt16: offset === 8,
      unpack(f, t, w, row) {
        const q0 = f.temp(`q0_${row}`, "v128"), q1 = f.temp(`q1_${row}`, "v128");
        const raw = f.temp(`raw_${row}`, "v128");
        f.set(raw, v128.load(t.weights, w, qs));
        f.set(q0, nibbles(f, raw, false));
        f.set(q1, nibbles(f, raw, true));
        if (offset === 16) {
          // Q5_0's fifth bits: bit j of the 32-bit qh, for element j. Byte j >> 3 of qh to
          // lane j, then the lane's own bit tested and turned into 0x10.
          const bits = constant(f, [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128]);
          f.set(raw, v128.load32Splat(t.weights, w, 2));
          const fifth = (from: number) => {
            const lanes = [...new Array(8).fill(from), ...new Array(8).fill(from + 1)];
            const picked = v128.and(i8x16.swizzle(raw, constant(f, lanes)), bits);
            return v128.and(i8x16.eq(picked, bits), splat8(f, 0x10));
          };
          f.set(q0, v128.or(q0, fifth(0)));
          f.set(q1, v128.or(q1, fifth(2)));
        }
        return [q0, q1];
      },
      // Q4_0: the nibbles of four rows interleaved, the low ones elements 0–15, the high 16–31.
      ...(offset === 8
        ? {
          interleaved(f: FunctionBuilder, t: KernelTarget, w: readonly Local[]): Local[] {
            const u = interleave(f, w.map((p) => v128.load(t.weights, p, qs)), "nib");
            const low = u.map((v, j) => {
              const lo = f.temp(`nibLow${j}`, "v128");
              f.set(lo, nibbles(f, v, false));
              return lo;
            });
            u.forEach((v) => f.set(v, nibbles(f, v, true)));
            return [...low, ...u];
          },
        }
        : {}),
      dot(_f, t, _w, [q0, q1], x) {
        const xlo = v128.load(t.state, x), xhi = v128.load(t.state, x, 16);
        if (!t.fma) {
          return { lanes: 4, value: wideDot(t, xhi, q1, wideDot(t, xlo, q0, v128.i32x4(0))) };
        }
        if (t.dotAdd) return { lanes: 4, value: dotPair32(xlo, q0, xhi, q1) };
        // Each 16-bit lane at most 2 · 2 · 31 · 127 = 15748: the two halves add without overflow.
        return {
          lanes: 8,
          value: i16x8.add(
            i16x8.relaxedDotI8x16I7x16S(xlo, q0),
            i16x8.relaxedDotI8x16I7x16S(xhi, q1),
          ),
        };
      },
    },
  };
}

/**
 * The 8 scales and 8 minimums of a Q4_K/Q5_K super-block, unpacked from their 12 bytes at `wp +
 * 4` in one vector (bytes 0–7: scales, 8–15: minimums; see `k_scales.ts`): two swizzles
 * gather the bytes each lane needs, masks and shifts assemble the 6-bit values — 9
 * instructions for what takes ~100 scalar ones.
 */
function kScalesMins(t: KernelTarget, wp: Expr, raw: Local, f: FunctionBuilder): Expr {
  const Z = 0x80; // swizzle index that yields 0
  f.set(raw, v128.load(t.weights, wp, 4));
  const a = i8x16.swizzle(raw, constant(f, [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11]));
  const b = i8x16.swizzle(raw, constant(f, [Z, Z, Z, Z, 0, 1, 2, 3, Z, Z, Z, Z, 4, 5, 6, 7]));
  const low = [...new Array(4).fill(63), ...new Array(4).fill(15), ...new Array(4).fill(63)];
  // Bits 6–7 of b's bytes to bits 4–5 (`bitTo`: 16-bit shifts, the mask clears what crossed).
  const top = f.temp("top", "v128");
  f.set(top, bitTo(f, b, 6, 4, 2));
  f.set(raw, a);
  const lowBits = v128.or(
    v128.and(raw, constant(f, [...low, 0, 0, 0, 0])),
    v128.and(
      i16x8.shrU(raw, i32.const(4)),
      constant(f, [...new Array(12).fill(0), 15, 15, 15, 15]),
    ),
  );
  return v128.or(lowBits, top);
}

/** 16-bit lane `lane` of `v` in all eight lanes. */
function lane16(v: Expr, lane: number): Expr {
  return i8x16.shuffle(v, v, new Array(8).fill([2 * lane, 2 * lane + 1]).flat());
}

/**
 * 16-bit lane `lane` of `v` in the low half of all four 32-bit lanes, zeros in the high halves:
 * a scale for `i32x4.dot_i16x8_s` against int32 lanes that hold int16 values.
 */
function lowLane16(f: FunctionBuilder, v: Expr, lane: number): Expr {
  const Z = 16; // a byte of the zero vector
  const bytes = new Array(4).fill([2 * lane, 2 * lane + 1, Z, Z]).flat();
  return i8x16.shuffle(v, constant(f, new Array(16).fill(0)), bytes);
}

/**
 * `Σ a · b` over 32 bytes (`a0, b0`: bytes 0–15, `a1, b1`: 16–31) in 4 int32 lanes, `a` signed
 * and `b` from 0 to 127: two `vpdpbusd` (with `KernelTarget.dotAdd`).
 */
function dotPair32(a0: Expr, b0: Expr, a1: Expr, b1: Expr): Expr {
  const low = i32x4.relaxedDotI8x16I7x16AddS(a0, b0, v128.i32x4(0));
  return i32x4.relaxedDotI8x16I7x16AddS(a1, b1, low);
}

/** `Σ xq · q` over 32 bytes in 8 int16 lanes (relaxed SIMD; each lane at most 15748). */
function dotPair16(xlo: Expr, q0: Expr, xhi: Expr, q1: Expr): Expr {
  return i16x8.add(i16x8.relaxedDotI8x16I7x16S(xlo, q0), i16x8.relaxedDotI8x16I7x16S(xhi, q1));
}

/**
 * `isum += sa · Σ_a + sb · Σ_b` in int32 lanes, for two sub-blocks' 8-bit dot products `a` and
 * `b` and their scales `sa`, `sb`: one `i32x4.dot_i16x8_s` per sub-block applies its scale and
 * widens its pairs. Either `a`, `b` are int16 lanes, as `pmaddubsw` leaves them, and the scales
 * int16 in all eight lanes (`lane16`); or int32 lanes holding int16 values, as `vpdpbusd`
 * leaves them, and the scales below zeros (`lowLane16`).
 * The scales are broadcast once per row and sub-block, outside the loop over tokens. Measured
 * against interleaving the two dot products' lanes so that one scale vector served both (two
 * shuffles more per token and pair of sub-blocks), one thread, 2048 × 8192: prefill Q4_K +5%,
 * Q5_K +6%, Q6_K +14%; decode unchanged.
 */
function scaleTwo(f: FunctionBuilder, isum: Local, a: Expr, b: Expr, sa: Local, sb: Local): void {
  f.set(isum, i32x4.add(isum, i32x4.add(i32x4.dotI16x8S(a, sa), i32x4.dotI16x8S(b, sb))));
}

/**
 * The sum of the four int32 lanes of `v`, exact, in every lane: a K-quant row's super-block
 * total, so that its float step does not depend on how a tile split the sum between lanes.
 */
function laneTotal(f: FunctionBuilder, v: Expr): Expr {
  const half = f.temp("totalHalf", "v128");
  f.set(half, v);
  f.set(
    half,
    i32x4.add(half, i8x16.shuffle(half, half, [...range(8).map((b) => 8 + b), ...range(8)])),
  );
  return i32x4.add(
    half,
    i8x16.shuffle(half, half, [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]),
  );
}

/**
 * `acc += (f32(isum) · d − f32(mins) · dmin) · dx` (without `mins`: `acc += f32(isum) · d ·
 * dx`): the one float step of a K-quant super-block, `dx` being the super-block's (all its
 * records hold it). `d` and `dmin` hold the row's scales in all four lanes (`rowLane`), set
 * once per row and super-block, so that a token takes two conversions, three vector
 * operations and the broadcast of its `dx`. A lane of `isum` can exceed 2^24 (at most 256 · 63
 * · 31 · 127 for Q5_K), so its conversion may round, by at most 2^-24 of it, and the same way
 * in every tile.
 */
function foldSuper(
  t: KernelTarget,
  acc: Local,
  isum: Expr,
  x: Expr,
  d: Local,
  mins?: { readonly sum: Expr; readonly dmin: Local },
): Expr {
  let inner = f32x4.mul(f32x4.convertI32x4S(isum), d);
  if (mins !== undefined) inner = nmadd(t, f32x4.convertI32x4S(mins.sum), mins.dmin, inner);
  return madd(t, inner, v128.load32Splat(t.state, x, K.dx), acc);
}

/**
 * {@linkcode foldSuper} for a row-form K-quant row with minimums, from the four partial lanes
 * of its integer sum `isum` and of its minimums' sum `mins`: both totalled at once, exactly,
 * into `[I, I, M, M]`, then lanes 0 and 1 get `acc += (f32(I) · d − f32(M) · dmin) · dx`, the
 * same operations the row-lane form does for each row (lanes 2 and 3 are not used). Two
 * separate totals took three instructions more per row and token.
 */
function foldTotals(
  f: FunctionBuilder,
  t: KernelTarget,
  acc: Local,
  isum: Expr,
  mins: Expr,
  x: Expr,
  d: Local,
  dmin: Local,
): Expr {
  const totals = f.temp("totals", "v128");
  const lanes = (a: number, b: number) =>
    [a, b, 4 + a, 4 + b].flatMap((l) => range(4).map((i) => 4 * l + i));
  f.set(
    totals,
    i32x4.add(i8x16.shuffle(isum, mins, lanes(0, 1)), i8x16.shuffle(isum, mins, lanes(2, 3))),
  );
  const swap = (order: number[]) => order.flatMap((l) => range(4).map((i) => 4 * l + i));
  f.set(totals, i32x4.add(totals, i8x16.shuffle(totals, totals, swap([1, 0, 3, 2]))));
  f.set(totals, f32x4.convertI32x4S(totals));
  const inner = nmadd(
    t,
    i8x16.shuffle(totals, totals, swap([2, 3, 0, 1])),
    dmin,
    f32x4.mul(totals, d),
  );
  return madd(t, inner, v128.load32Splat(t.state, x, K.dx), acc);
}

/** `c − a · b`, fused where the target has FMA. */
function nmadd(t: KernelTarget, a: Expr, b: Expr, c: Expr): Expr {
  return t.fma ? f32x4.relaxedNmadd(a, b, c) : f32x4.sub(c, f32x4.mul(a, b));
}

/**
 * Q4_K (144 bytes, `fifth` false) and Q5_K (176 bytes, `fifth` true): with one `dx` per
 * super-block (the K-quant records), `Σ_g sc_g · Σ q · xq` over the 8 sub-blocks and `Σ_g m_g ·
 * Σ xq` stay in integers; one float step per super-block.
 *
 * Rows are emitted one after another, each through the whole super-block, except in one-token
 * tiles of several rows, which go chunk by chunk: the chunk's four activation vectors are
 * loaded once and used by every row. Decode is bound by instructions, not memory (a Q4_K row
 * streams as fast from L2 as from DRAM), and each load of the state memory costs three
 * instructions, with its bounds check (Deno runs WebAssembly without V8's trap handler). Every
 * row adds the same integers in the same order either way, so the results are the same.
 */
function kFormat(fifth: boolean): BlockFormat {
  const qs = fifth ? 48 : 16;
  return {
    superElements: 256,
    superBytes: fifth ? 176 : 144,
    activations: "q8_k",
    oneLane: true,
    emitLanes: (f, tile) => kLanes(f, tile, fifth),
    emit(f, { target: t, wp, xp, acc }) {
      const raw = f.temp("raw", "v128");
      const sa = f.temp("sa", "v128"), sb = f.temp("sb", "v128");
      const q = [0, 1, 2, 3].map((k) => f.temp(`q${k}`, "v128"));
      // Per row: the 8 scales and 8 minimums as int16 (sc, mn), and per token the integer sum.
      const byRow = xp.length === 1 && wp.length > 1;
      const rowLocals = (name: string) =>
        byRow ? wp.map((_, i) => f.temp(`${name}${i}`, "v128")) : [f.temp(name, "v128")];
      const sc = rowLocals("sc"), mn = rowLocals("mn");
      const isum = byRow
        ? wp.map((_, i) => [f.temp(`isum${i}`, "v128")])
        : [xp.map((_, k) => f.temp(`isum${k}`, "v128"))];
      const at = (i: number) => (byRow ? i : 0);

      const startRow = (i: number) => {
        f.set(sc[at(i)], kScalesMins(t, wp[i], raw, f));
        f.set(mn[at(i)], i16x8.extendHighI8x16U(sc[at(i)]));
        f.set(sc[at(i)], i16x8.extendLowI8x16U(sc[at(i)]));
        for (const s of isum[at(i)]) f.set(s, v128.i32x4(0));
      };
      // Chunk c: 32 bytes, low nibbles sub-block 2c, high nibbles 2c + 1 (records 2c, 2c + 1);
      // `xs(k)` gives token k's four activation vectors of the chunk.
      const chunk = (i: number, c: number, xs: (k: number) => readonly Expr[]) => {
        const w = wp[i], scales = sc[at(i)];
        if (t.fma) {
          f.set(sa, t.dotAdd ? lowLane16(f, scales, 2 * c) : lane16(scales, 2 * c));
          f.set(sb, t.dotAdd ? lowLane16(f, scales, 2 * c + 1) : lane16(scales, 2 * c + 1));
        }
        for (const [k, half] of [[0, 0], [1, 16]] as const) {
          f.set(raw, v128.load(t.weights, w, qs + 32 * c + half));
          let low = nibbles(f, raw, false), high = nibbles(f, raw, true);
          if (fifth) {
            // Bit g of qh[l] is the fifth bit of element l of sub-block g.
            const qh = v128.load(t.weights, w, 16 + half);
            low = v128.or(low, bitTo(f, qh, 2 * c, 4));
            high = v128.or(high, bitTo(f, qh, 2 * c + 1, 4));
          }
          f.set(q[k], low);
          f.set(q[2 + k], high);
        }
        isum[at(i)].forEach((s, k) => {
          const [xe0, xe1, xo0, xo1] = xs(k);
          if (t.dotAdd) {
            // Each int32 lane at most 8 · 31 · 127 = 31496: an int16 with its sign bits above,
            // which `i32x4.dot_i16x8_s` multiplies by the scale below a zero. Measured against
            // pmaddubsw (one thread, AVX-VNNI): Q5_K prefill +6%, Q4_K the same.
            const even = dotPair32(xe0, q[0], xe1, q[1]);
            const odd = dotPair32(xo0, q[2], xo1, q[3]);
            scaleTwo(f, s, even, odd, sa, sb);
          } else if (t.fma) {
            const even = dotPair16(xe0, q[0], xe1, q[1]);
            const odd = dotPair16(xo0, q[2], xo1, q[3]);
            scaleTwo(f, s, even, odd, sa, sb);
          } else {
            for (
              const [j, lo, hi, x0, x1] of [[0, q[0], q[1], xe0, xe1], [
                1,
                q[2],
                q[3],
                xo0,
                xo1,
              ]] as const
            ) {
              const dot = dotPair(t, x0, lo, x1, hi);
              const scale = i32x4.extendLowI16x8S(lane16(scales, 2 * c + j));
              f.set(s, i32x4.add(s, i32x4.mul(dot, scale)));
            }
          }
        });
      };
      // The rows' d and dmin: for all rows of a one-token tile at once, after its chunks;
      // otherwise row by row, as each row ends (fewer vectors live through the chunks).
      let halves: Local[][] = [];
      const d = f.temp("d", "v128"), dmin = f.temp("dmin", "v128");
      const finishRow = (i: number) => {
        if (!byRow) halves = rowHalves(f, t, [wp[i]], 0, true);
        const lane = byRow ? i : 0;
        f.set(d, rowLane(halves[0][lane >> 2], lane));
        f.set(dmin, rowLane(halves[1][lane >> 2], lane));
        xp.forEach((x, k) => {
          // Σ_g m_g · Σ xq over sub-block g, from record 1's sums.
          const sum = i32x4.dotI16x8S(mn[at(i)], superSums(t, x, 2));
          f.set(acc[i][k], foldTotals(f, t, acc[i][k], isum[at(i)][k], sum, x, d, dmin));
        });
      };
      const loads = (x: Expr, c: number) => [
        xload(t, x, 2 * c, 0),
        xload(t, x, 2 * c, 16),
        xload(t, x, 2 * c + 1, 0),
        xload(t, x, 2 * c + 1, 16),
      ];

      if (byRow) {
        const xv = [0, 1, 2, 3].map((j) => f.temp(`xv${j}`, "v128"));
        wp.forEach((_, i) => startRow(i));
        for (let c = 0; c < 4; c++) {
          loads(xp[0], c).forEach((load, j) => f.set(xv[j], load));
          wp.forEach((_, i) => chunk(i, c, () => xv));
        }
        halves = rowHalves(f, t, wp, 0, true);
        wp.forEach((_, i) => finishRow(i));
      } else {
        wp.forEach((_, i) => {
          startRow(i);
          for (let c = 0; c < 4; c++) chunk(i, c, (k) => loads(xp[k], c));
          finishRow(i);
        });
      }
    },
  };
}

/**
 * Q4_K and Q5_K (`fifth`) in the row-lane form (tiles of 4 rows): each 16-byte load of
 * a token's activations serves four rows instead of one. Per sub-block of 32, the four rows'
 * 8-bit dot products are summed across their lanes into one vector (`laneSums`, lane r: row
 * r), whose widening multiplies each row by its own 6-bit scale; per super-block, the
 * minimums' sums the same way, then one float step for the four rows. The integer sums are
 * exact, so every row gets the bits of the row form, which totals the same sums in another
 * order. Several tokens (prefill) go sub-block by sub-block, the four rows' weights unpacked
 * once for all tokens; one token (decode) goes chunk by chunk, each row's 32 bytes loaded once
 * for both of the chunk's sub-blocks (V8 had kept them for the second in spilled registers).
 */
function kLanes(
  f: FunctionBuilder,
  { target: t, wp, xp, acc }: LaneTile,
  fifth: boolean,
): void {
  const qs = fifth ? 48 : 16;
  const raw = f.temp("raw", "v128"), scales = f.temp("scales", "v128");
  const scales23 = f.temp("scales23", "v128");
  const xlo = f.temp("xlo", "v128"), xhi = f.temp("xhi", "v128");
  const halves = [f.temp("scalesLow", "v128"), f.temp("scalesHigh", "v128")];
  const isum = xp.map((_, k) => f.temp(`isum${k}`, "v128"));
  acc.forEach((row, g) => {
    const rows = wp.slice(4 * g, 4 * g + 4);
    // Bytes 0–7 of each: the 6-bit scales, 8–15 the minimums (`kScalesMins`).
    const sm = rows.map((w, r) => {
      const v = f.temp(`sm${r}`, "v128");
      f.set(v, kScalesMins(t, w, raw, f));
      return v;
    });
    // Scales of sub-blocks 0–3 (halves[0]) and 4–7 (halves[1]), four bytes per row, row r
    // at byte 4r.
    const pairs = [0, 2].map((r) => {
      const v = f.temp(`scalePair${r}`, "v128");
      f.set(v, i8x16.shuffle(sm[r], sm[r + 1], LOW32));
      return v;
    });
    f.set(halves[0], i8x16.shuffle(pairs[0], pairs[1], LOW64));
    f.set(halves[1], i8x16.shuffle(pairs[0], pairs[1], HIGH64));
    for (const s of isum) f.set(s, v128.i32x4(0));
    const q = range(8).map((i) => f.temp(`q${i}`, "v128"));
    // Sub-block j's scales, four rows (or two pairs, with `fifth`: lane sums too large for 16
    // bits, so each pair of rows is widened with its own scales).
    const Z = 0x80;
    const setScales = (j: number, into: Local, into23: Local) => {
      const lanes = (rs: number[]) => rs.flatMap((r) => [4 * r + (j & 3), Z, 4 * r + (j & 3), Z]);
      const pick = (rs: number[]) => i8x16.swizzle(halves[j >> 2], constant(f, lanes(rs)));
      if (fifth) {
        f.set(into, pick([0, 1, 0, 1]));
        f.set(into23, pick([2, 3, 2, 3]));
      } else f.set(into, pick([0, 1, 2, 3]));
    };
    const laneSum = (dots: RowDot[], s: Local, s23: Local) =>
      fifth ? laneSums(f, dots, false, [s, s23]) : laneSums(f, dots, true, s);
    // Sub-block j's weights: the low (j even) or high nibbles of chunk j >> 1's 32 bytes.
    const weights = (w: Local, j: number, half: number, loaded?: Local) => {
      let bits = nibbles(
        f,
        loaded ?? v128.load(t.weights, w, qs + 32 * (j >> 1) + 16 * half),
        (j & 1) === 1,
      );
      // Bit j of qh[l] is the fifth bit of element l of sub-block j.
      if (fifth) bits = v128.or(bits, bitTo(f, v128.load(t.weights, w, 16 + 16 * half), j, 4));
      return bits;
    };
    // Q4_K's one token with the unsigned dot product: the high nibbles are met as they lie in
    // their bytes, 16 q (no shift), in int32 lanes, and the low sub-blocks' scales times 16
    // make the whole sum 16 times the true one, which `d / 16` takes back exactly (powers of
    // two: the same bits). One thread, Zen 5, same process: +0–16%, median +4% in six runs.
    const unshiftedHighNibbles = !fifth && xp.length === 1 && t.unsignedDotAdd === true;
    if (xp.length === 1) {
      // One token: chunk by chunk, each row's 32 bytes loaded once for both of the chunk's
      // sub-blocks, and both sub-blocks' dot products kept until the lane sums.
      const xv = range(4).map((i) => f.temp(`xv${i}`, "v128"));
      const dots = range(8).map((i) => f.temp(`rowDot${i}`, "v128"));
      const bytes = [f.temp("bytesLow", "v128"), f.temp("bytesHigh", "v128")];
      const s = unshiftedHighNibbles ? [] : range(4).map((i) => f.temp(`subScales${i}`, "v128"));
      const rowDot = (w: Local, j: number, odd: number): Expr => {
        if (!unshiftedHighNibbles) {
          const q = (half: number) => weights(w, j, half, bytes[half]);
          return dotPair16(xv[2 * odd], q(0), xv[2 * odd + 1], q(1));
        }
        const mask = splat8(f, odd === 0 ? 0x0f : 0xf0);
        const q = (half: number) => v128.and(bytes[half], mask);
        return dotPair32(xv[2 * odd], q(0), xv[2 * odd + 1], q(1));
      };
      for (let c = 0; c < 4; c++) {
        [0, 16, 0, 16].forEach((at, i) => f.set(xv[i], xload(t, xp[0], 2 * c + (i >> 1), at)));
        rows.forEach((w, r) => {
          bytes.forEach((b, half) => f.set(b, v128.load(t.weights, w, qs + 32 * c + 16 * half)));
          for (const odd of [0, 1]) f.set(dots[4 * odd + r], rowDot(w, 2 * c + odd, odd));
        });
        if (!unshiftedHighNibbles) {
          setScales(2 * c, s[0], s[1]);
          setScales(2 * c + 1, s[2], s[3]);
        }
        for (const odd of [0, 1]) {
          const lanes = unshiftedHighNibbles ? 4 : 8;
          const rowDots = range(4).map((r): RowDot => ({ lanes, value: dots[4 * odd + r] }));
          if (!unshiftedHighNibbles) {
            f.set(isum[0], i32x4.add(isum[0], laneSum(rowDots, s[2 * odd], s[2 * odd + 1])));
            continue;
          }
          // Row r's 6-bit scale of sub-block j in int32 lane r (times 16 for the low nibbles).
          const j = 2 * c + odd;
          const pick = [0, 1, 2, 3].flatMap((r) => [4 * r + (j & 3), Z, Z, Z]);
          f.set(scales, i8x16.swizzle(halves[j >> 2], constant(f, pick)));
          if (odd === 0) f.set(scales, i32x4.shl(scales, i32.const(4)));
          f.set(isum[0], i32x4.add(isum[0], i32x4.mul(laneSums(f, rowDots, false), scales)));
        }
      }
    } else {
      for (let j = 0; j < 8; j++) {
        setScales(j, scales, scales23);
        rows.forEach((w, r) => {
          for (const half of [0, 1]) f.set(q[2 * r + half], weights(w, j, half));
        });
        xp.forEach((x, k) => {
          f.set(xlo, xload(t, x, j, 0));
          f.set(xhi, xload(t, x, j, 16));
          const dots = rows.map((_, r): RowDot => ({
            lanes: 8,
            value: dotPair16(xlo, q[2 * r], xhi, q[2 * r + 1]),
          }));
          f.set(isum[k], i32x4.add(isum[k], laneSum(dots, scales, scales23)));
        });
      }
    }
    const [[d], [dmin]] = rowHalves(f, t, rows, 0, true);
    if (unshiftedHighNibbles) f.set(d, f32x4.mul(d, f.hoist("sixteenth", v128.f32x4(1 / 16))));
    const mins = sm.map((v) => {
      f.set(v, i16x8.extendHighI8x16U(v));
      return v;
    });
    const minSum = f.temp("minSum", "v128");
    xp.forEach((x, k) => {
      // Σ_g m_g · Σ xq over sub-block g, from record 2's sums, row r in lane r.
      const sums = f.temp("superSums", "v128");
      f.set(sums, superSums(t, x, 2));
      const dots = mins.map((m): RowDot => ({ lanes: 4, value: i32x4.dotI16x8S(m, sums) }));
      f.set(minSum, laneSums(f, dots, false));
      f.set(row[k], foldSuper(t, row[k], isum[k], x, d, { sum: minSum, dmin }));
    });
  });
}

/**
 * Q6_K (210 bytes): ql, qh, 16 int8 scales, d at byte 208. With the super-block's one `dx`,
 * `Σ_j sc_j · Σ (q − 32) · xq` over the 16 sub-blocks stays in integers: the products with
 * `q` (0 … 63, the 7-bit operand) pair two sub-blocks' scales at a time, and the offset
 * `32 · Σ_j sc_j · Σ xq` comes from the super-block's half sums in two dot products.
 */
const Q6_K: BlockFormat = {
  superElements: 256,
  superBytes: 210,
  activations: "q8_k",
  oneLane: true,
  emit(f, { target: t, wp, xp, acc }) {
    const q0 = f.temp("q0", "v128"), q1 = f.temp("q1", "v128");
    const sa = f.temp("sa", "v128"), sb = f.temp("sb", "v128");
    // One token (decode): every row has its own integer sum, and the tile goes quarter by
    // quarter (below), each quarter's activations loaded once for every row.
    const byRow = xp.length === 1;
    const rows = byRow ? wp.length : 1;
    const scales = range(rows).map((i) => [f.temp(`sc0_${i}`, "v128"), f.temp(`sc1_${i}`, "v128")]);
    const isum = byRow
      ? range(rows).map((i) => [f.temp(`isum${i}`, "v128")])
      : [xp.map((_, k) => f.temp(`isum${k}`, "v128"))];
    const at = (i: number) => (byRow ? i : 0);

    const startRow = (i: number) => {
      // The 16 int8 scales as int16: sub-blocks 0–7, then 8–15.
      const sc = scales[at(i)];
      f.set(sc[1], v128.load(t.weights, wp[i], 192));
      f.set(sc[0], i16x8.extendLowI8x16S(sc[1]));
      f.set(sc[1], i16x8.extendHighI8x16S(sc[1]));
      isum[at(i)].forEach((s, k) => {
        // − 32 · Σ_j sc_j · Σ xq over sub-block j, from record 0's half sums.
        const offset = i32x4.add(
          i32x4.dotI16x8S(sc[0], superSums(t, xp[k], 0)),
          i32x4.dotI16x8S(sc[1], superSums(t, xp[k], 1)),
        );
        f.set(s, i32x4.sub(v128.i32x4(0), i32x4.shl(offset, i32.const(5))));
      });
    };
    // Record g holds weights 32g … 32g + 31 = 128c + 32k + l, sub-blocks 2g and 2g + 1;
    // `xs(k)` gives token k's two activation vectors of the record.
    const record = (i: number, g: number, xs: (k: number) => readonly Expr[]) => {
      const w = wp[i], sc = scales[at(i)][g >> 2];
      const c = g >> 2, k = g & 3;
      for (const [q, half] of [[q0, 0], [q1, 16]] as const) {
        const low = nibbles(f, v128.load(t.weights, w, 64 * c + 32 * (k & 1) + half), k >= 2);
        const top = bitTo(f, v128.load(t.weights, w, 128 + 32 * c + half), 2 * k, 4, 2);
        f.set(q, v128.or(low, top));
      }
      if (t.fma) {
        f.set(sa, lane16(sc, 2 * (g & 3)));
        f.set(sb, lane16(sc, 2 * (g & 3) + 1));
      }
      isum[at(i)].forEach((s, j) => {
        const [x0, x1] = xs(j);
        if (t.fma) {
          const even = i16x8.relaxedDotI8x16I7x16S(x0, q0);
          const odd = i16x8.relaxedDotI8x16I7x16S(x1, q1);
          scaleTwo(f, s, even, odd, sa, sb);
        } else {
          for (const [h, x, q] of [[0, x0, q0], [1, x1, q1]] as const) {
            const dot = dotHalf(t, x, q);
            const scale = i32x4.extendLowI16x8S(lane16(sc, 2 * (g & 3) + h));
            f.set(s, i32x4.add(s, i32x4.mul(dot, scale)));
          }
        }
      });
    };
    // Quarter (c, h) of a one-token tile: bytes h … h + 15 of chunk c's 32-byte groups. Three
    // loads per row hold 16 weights of each of the chunk's four records 4c + k: ql at 64c + h
    // (records 4c and 4c + 2, low and high nibbles), ql at 64c + 32 + h (4c + 1, 4c + 3), qh
    // at 128 + 32c + h (bits 2k, 2k + 1). Record by record, each of those loads served two or
    // four records, and V8 kept them alive between, in spilled registers.
    const ql = [f.temp("qlA", "v128"), f.temp("qlB", "v128")], qh = f.temp("qh", "v128");
    const quarter = (i: number, c: number, h: 0 | 16, xv: readonly Local[]) => {
      const w = wp[i], sc = scales[at(i)][c], s = isum[at(i)][0];
      f.set(ql[0], v128.load(t.weights, w, 64 * c + h));
      f.set(ql[1], v128.load(t.weights, w, 64 * c + 32 + h));
      f.set(qh, v128.load(t.weights, w, 128 + 32 * c + h));
      for (let k = 0; k < 4; k++) {
        // Sub-block 2 · (4c + k) + h / 16: lane 2k + h / 16 of the chunk's scales.
        const lane = 2 * k + h / 16;
        f.set(q0, v128.or(nibbles(f, ql[k & 1], k >= 2), bitTo(f, qh, 2 * k, 4, 2)));
        if (t.fma) {
          const dot = i16x8.relaxedDotI8x16I7x16S(xv[k], q0);
          f.set(s, i32x4.add(s, i32x4.dotI16x8S(dot, lane16(sc, lane))));
        } else {
          const scale = i32x4.extendLowI16x8S(lane16(sc, lane));
          f.set(s, i32x4.add(s, i32x4.mul(dotHalf(t, xv[k], q0), scale)));
        }
      }
    };
    // The rows' d, as in `kFormat`.
    let halves: Local[] = [];
    const d = f.temp("d", "v128");
    const finishRow = (i: number) => {
      if (!byRow) halves = rowHalves(f, t, [wp[i]], 208, false)[0];
      const lane = byRow ? i : 0;
      f.set(d, rowLane(halves[lane >> 2], lane));
      xp.forEach((x, k) => {
        f.set(isum[at(i)][k], laneTotal(f, isum[at(i)][k]));
        f.set(acc[i][k], foldSuper(t, acc[i][k], isum[at(i)][k], x, d));
      });
    };
    const loads = (x: Expr, g: number) => [xload(t, x, g, 0), xload(t, x, g, 16)];

    if (byRow) {
      const xv = range(4).map((k) => f.temp(`xv${k}`, "v128"));
      wp.forEach((_, i) => startRow(i));
      for (let c = 0; c < 2; c++) {
        for (const h of [0, 16] as const) {
          xv.forEach((x, k) => f.set(x, xload(t, xp[0], 4 * c + k, h)));
          wp.forEach((_, i) => quarter(i, c, h, xv));
        }
      }
      halves = rowHalves(f, t, wp, 208, false)[0];
      wp.forEach((_, i) => finishRow(i));
    } else {
      wp.forEach((_, i) => {
        startRow(i);
        for (let g = 0; g < 8; g++) record(i, g, (k) => loads(xp[k], g));
        finishRow(i);
      });
    }
  },
};

/**
 * Q8_0 and Q4_0 against float32 activations, the alternative to 8-bit activations that
 * `bench/kernels_bench.ts` measures: each weight widened to float32 (`load8x8_s`, then two
 * extensions and a conversion per 4) and multiplied with X as it is.
 */
function floatFormat(type: "q8_0" | "q4_0"): BlockFormat {
  return {
    superElements: 32,
    superBytes: type === "q8_0" ? 34 : 18,
    activations: "f32",
    emit(f, { target: t, wp, xp, acc }) {
      const d = f.temp("d", "v128"), part = f.temp("part", "v128");
      const h = [0, 1, 2, 3].map((k) => f.temp(`h${k}`, "v128"));
      const raw = f.temp("raw", "v128");
      wp.forEach((w, i) => {
        f.set(d, halfSplat(t, w, 0));
        // h[k]: weights 8k … 8k + 7 as int16.
        if (type === "q8_0") {
          for (let k = 0; k < 4; k++) f.set(h[k], v128.load8x8S(t.weights, w, 2 + 8 * k));
        } else {
          f.set(raw, v128.load(t.weights, w, 2));
          const low = i8x16.sub(nibbles(f, raw, false), splat8(f, 8));
          const high = i8x16.sub(nibbles(f, raw, true), splat8(f, 8));
          f.set(h[0], i16x8.extendLowI8x16S(low));
          f.set(h[1], i16x8.extendHighI8x16S(low));
          f.set(h[2], i16x8.extendLowI8x16S(high));
          f.set(h[3], i16x8.extendHighI8x16S(high));
        }
        xp.forEach((x, k) => {
          f.set(part, v128.i32x4(0));
          for (let j = 0; j < 8; j++) {
            const ints = j & 1
              ? i32x4.extendHighI16x8S(h[j >> 1])
              : i32x4.extendLowI16x8S(h[j >> 1]);
            f.set(part, madd(t, f32x4.convertI32x4S(ints), v128.load(t.state, x, 16 * j), part));
          }
          f.set(acc[i][k], madd(t, part, d, acc[i][k]));
        });
      });
    },
  };
}

/** The float32-activation variants, by type. */
export const FLOAT_BLOCK_FORMATS: { readonly q8_0: BlockFormat; readonly q4_0: BlockFormat } = {
  q8_0: floatFormat("q8_0"),
  q4_0: floatFormat("q4_0"),
};

/**
 * The SIMD kernel body of a block type for a target: {@linkcode BLOCK_FORMATS}, but Q8_0 with
 * its weights biased to unsigned bytes where the target's dot product reads them so.
 *
 * @param type The block type.
 * @param target The kernels' target.
 * @returns The format.
 */
export function blockFormatFor(type: BlockStorageType, target: KernelTarget): BlockFormat {
  return type === "q8_0" && target.unsignedDotAdd === true ? Q8_0_BIASED : BLOCK_FORMATS[type];
}

/** Every block type's SIMD kernel body. */
export const BLOCK_FORMATS: { readonly [T in BlockStorageType]: BlockFormat } = {
  q8_0: Q8_0,
  q4_0: zeroFormat(18, 2, 8),
  q5_0: zeroFormat(22, 6, 16),
  q4_k: kFormat(false),
  q5_k: kFormat(true),
  q6_k: Q6_K,
};

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
