/**
 * Matrix × matrix in WebAssembly SIMD, for every float storage type: `X (T, n) @ W^T (n, d) ->
 * out (T, d)` for the weight rows `[rowStart, rowEnd)` one worker owns. With one token it is
 * the decode step's matrix × vector, the loop where almost all of a token's time goes.
 *
 * **The math.** Every output is one dot product `out[t, r] = Σ_j W[r, j] · X[t, j]`. Columns
 * go by in groups of 8; within a group, one 4-lane vector holds 4 weights and another the 4
 * inputs they multiply, so each multiply-add instruction does four of the sum's terms. One
 * accumulator vector per (row, token) collects lane `k` of every group, then the four lanes are
 * added `(l0 + l1) + (l2 + l3)`, then the last `n mod 8` columns one by one. That order is the
 * same whichever tile computes the output, so results do not depend on how rows are split
 * between workers or on how many tokens share a call: a prompt run in one batch gives the same
 * bits as its tokens run one at a time.
 *
 * **Widening in registers.** 8 bf16 weights are one 16-byte load; shifting each 32-bit lane
 * left by 16 leaves the even elements (0, 2, 4, 6) as float32, masking the low halves off leaves
 * the odd ones (1, 3, 5, 7). So that inputs meet their weights, the kernel first copies X into
 * per-worker scratch with each group's inputs reordered the same way, `[x0 x2 x4 x6 | x1 x3 x5
 * x7]` (a cost of one pass over X). f16 is widened the same way and then converted by exponent
 * arithmetic (two more instructions; the third, a multiplication by 2^112, is moved to X and the
 * sums, `F16_SCALES`); f32 needs no widening and keeps X's order.
 *
 * **The register plan.** A tile of `R` rows × `B` tokens keeps `R · B` accumulators, `B` input
 * vectors and one weight vector in the vector registers (V8 gives a kernel 15 of x86-64's 16):
 * for prefill 5 rows × 2 tokens in bf16 (10 + 2 + 1: 30.5 GFLOP/s on one core against 25.4
 * for 4 × 2 and 28.8 for 3 × 3), 3 × 3 in f16, whose costlier widening is then shared by three
 * tokens (9 + 3 + 1; 4 × 3, one register short, was 10% faster than 4 × 2), 4 × 2 in f32
 * ({@linkcode DEFAULT_TILES}); and 4 rows × 1 token for decode. On one core 8 rows were faster
 * once (12.1 GB/s against 9.8 with 4, on an earlier form of the tile), and are now about even
 * (2048 × 8192: 13.2 against 12.8 GB/s); but decode runs on two threads that share the memory,
 * where 4 streams per thread beat 8: the 1B in bf16, 8 runs of each taking turns, 9.72 against
 * 8.65 tok/s (+11%, median of the paired ratios), the F16 GGUF 7.18 against 6.14 (+20%, 6
 * runs). Each weight vector loaded feeds `B` multiply-adds, each input vector `R`; a tile small
 * enough keeps the loaded weights in registers for both halves, a larger one loads them again
 * from the L1 cache. Rows and tokens left over at the edges take smaller tiles with the same
 * arithmetic. For one token the rows of a tile are not adjacent but one from each of as many
 * equal runs of the row range, so that each memory stream goes on into the next row of its run
 * instead of ending with the row (4 KiB for 2048 bf16 columns): one thread, bf16 12.5 → 14.3
 * GB/s, f16 9.5 → 11.3; decode of the 1B in bf16 133 → 104 ms per token.
 *
 * `relaxed_madd` (a fused multiply-add where the processor has one) is used when the runtime
 * validates relaxed SIMD; otherwise a multiply and an add.
 *
 * @example
 * ```ts
 * import { emitMatMul } from "./matmul.ts";
 * import { ModuleBuilder } from "../../wasm/module.ts";
 *
 * const m = new ModuleBuilder();
 * const weights = m.importMemory("weights", { address: "i64", shared: true, minimum: 1, maximum: 262144 });
 * const state = m.importMemory("state", { address: "i64", shared: true, minimum: 1, maximum: 262144 });
 * emitMatMul(m, { weights, state, fma: true }, "bf16");
 * ```
 *
 * @module
 */

import type { FloatStorageType } from "../../tensor/storage.ts";
import type {
  Expr,
  FunctionBuilder,
  FunctionRef,
  Local,
  Memory,
  ModuleBuilder,
} from "../../wasm/module.ts";
import { call, f32, f32x4, i32, i32x4, i8x16, v128 } from "../../wasm/ops.ts";
import { type AddressOps, addressOps, type AddressType } from "./address.ts";

/** The memories and options every kernel is emitted for. */
export interface KernelTarget {
  /** The weights memory (64-bit). */
  readonly weights: Memory;
  /** Activations, KV cache and scratch (64-bit). */
  readonly state: Memory;
  /** Use relaxed SIMD's fused multiply-add. */
  readonly fma: boolean;
  /**
   * Use `i32x4.relaxed_dot_i8x16_i7x16_add_s` for 8-bit dot products into int32 lanes: one
   * `vpdpbusd` where V8 has AVX-VNNI, but three instructions elsewhere (default false).
   */
  readonly dotAdd?: boolean;
  /**
   * `i32x4.relaxed_dot_i8x16_i7x16_add_s` reads bytes of 128 and more in its second operand as
   * unsigned and does not saturate (`vpdpbusd`; see `dotAddIsUnsigned`): Q8_0 then biases its
   * weights to unsigned bytes, Q4_0 and Q8_0 prefill tiles interleave their rows, and Q4_K's
   * decode meets its high nibbles unshifted (`block_formats.ts`; default false).
   */
  readonly unsignedDotAdd?: boolean;
  /** Both memories' address type (default `"i64"`; `"i32"` only to measure memory64's cost). */
  readonly address?: AddressType;
}

/** Tile sizes: rows × tokens of a prefill tile, rows of a decode tile. */
export interface TilePlan {
  readonly rows: number;
  readonly tokens: number;
  readonly vectorRows: number;
}

/**
 * The measured defaults, per type (`bench/block_plan_probe.ts --types bf16,f16,f32`, one thread,
 * 64 tokens, the plans taking turns). Prefill: bf16 5 × 2 (2048 × 2048: 30.5 GFLOP/s against 25.4
 * for 4 × 2; 1B prefill +13%), f16 3 × 3 (its widening costs two more instructions, so each
 * widened vector serves three tokens; see `F16_SCALES`), f32 4 × 2. One token:
 * 4 rows, whose streams two threads share best (1B bf16 decode +11% against 8).
 */
export const DEFAULT_TILES: { readonly [T in FloatStorageType]: TilePlan } = {
  bf16: { rows: 5, tokens: 2, vectorRows: 4 },
  f16: { rows: 3, tokens: 3, vectorRows: 4 },
  f32: { rows: 4, tokens: 2, vectorRows: 4 },
};

/** Vector registers V8 can give a kernel on x86-64 (16, one kept as its scratch). */
const VECTOR_REGISTERS = 15;

/** Columns per group: two 4-lane vectors. */
export const GROUP = 8;

/** `a · b + c` with the target's multiply-add. */
export function madd(target: KernelTarget, a: Expr, b: Expr, c: Expr): Expr {
  return target.fma ? f32x4.relaxedMadd(a, b, c) : f32x4.add(f32x4.mul(a, b), c);
}

/** How one storage type's group of 8 weights becomes two float32 vectors. */
interface GroupFormat {
  /** Bytes of 8 weights. */
  readonly groupBytes: number;
  /** Bytes of one weight (for the tail). */
  readonly elementBytes: number;
  /** Inputs reordered `[even | odd]` within each group. */
  readonly evenOdd: boolean;
  /** 16-byte vectors a group is loaded as. */
  readonly vectors: 1 | 2;
  /** The 4 weights of half `h` of a group loaded as `raw` (may set temporaries of `f`). */
  widen(f: FunctionBuilder, raw: readonly Expr[], h: 0 | 1): Expr;
  /** One weight at `address`, as f32 (may set temporaries of `f`). */
  scalar(f: FunctionBuilder, target: KernelTarget, address: Expr): Expr;
  /**
   * Powers of two that the packed inputs and then each tile's sums are multiplied by, where
   * `widen` gives the weights scaled (f16: it leaves f16TopToF32's multiplication by 2^112 to
   * the inputs, which meet every weight anyway, and to the sums).
   */
  readonly scales?: { readonly input: number; readonly sum: number };
}

/**
 * f16's scales: 2^96 on the inputs and 2^16 on the sums make up the 2^112 its widening leaves
 * out. Powers of two scale exactly, so the results are the bits of the unscaled product wherever
 * the partial sums stay above 2^-110 and the inputs below 2^32 (nothing in a model comes near
 * either). Against the widening with its multiplication (one thread, Zen 5, same process):
 * decode 11.4 → 12.7 GB/s, prefill 18.8 → 19.6 GFLOP/s in 4 × 3 tiles; with one instruction
 * fewer per widening, 3 × 3 tiles then beat 4 × 3 (25.4–26.7 against 22.1–24.3 in three shapes),
 * and the 1B F16 GGUF's prefill went 18.1–21.0 → 23.1–26.7 tok/s (seven pairs of runs).
 */
const F16_SCALES = { input: 2 ** 96, sum: 2 ** 16 } as const;

const HIGH_HALVES = 0xffff0000 | 0;

/** 16-bit values in the top half of each 32-bit lane: the even (h = 0) or odd (h = 1) ones. */
function topHalves(f: FunctionBuilder, raw: Expr, h: 0 | 1): Expr {
  if (h === 0) return i32x4.shl(raw, i32.const(16));
  return v128.and(raw, f.hoist("highHalves", v128.i32x4(HIGH_HALVES)));
}

/**
 * float16 in the top half of each lane → float32, in three instructions: an arithmetic shift
 * right by 3 moves exponent and mantissa down to float32's positions (copies of the sign fill
 * the bits it passes over), a mask keeps the sign bit and those 15 bits, and a multiplication
 * by 2^112 (the difference of the exponent biases, 127 − 15) rescales the value; it also turns
 * subnormal halves into the right normal floats. Exact for every finite half; infinities and
 * NaNs, which model weights do not contain, come out as finite values of 2^16 and above.
 *
 * @param top The halves, in the top 16 bits of each lane.
 * @param f The function, whose start computes the two constants once (`hoist`); without it
 *   they are built where they are used.
 * @returns The four floats.
 */
export function f16TopToF32(top: Expr, f?: FunctionBuilder): Expr {
  const scale = v128.f32x4(2 ** 112);
  return f32x4.mul(f16TopToScaledF32(top, f), f?.hoist("f16Scale", scale) ?? scale);
}

/** {@linkcode f16TopToF32} without its multiplication: the floats times 2^-112, exactly. */
function f16TopToScaledF32(top: Expr, f?: FunctionBuilder): Expr {
  const mask = v128.i32x4(0x8fffe000 | 0);
  return v128.and(i32x4.shrS(top, i32.const(3)), f?.hoist("f16Mask", mask) ?? mask);
}

const FORMATS: { readonly [T in FloatStorageType]: GroupFormat } = {
  bf16: {
    groupBytes: 16,
    elementBytes: 2,
    evenOdd: true,
    vectors: 1,
    widen: (f, raw, h) => topHalves(f, raw[0], h),
    scalar: (_f, t, address) =>
      f32.reinterpretI32(i32.shl(i32.load16U(t.weights, address), i32.const(16))),
  },
  f16: {
    groupBytes: 16,
    elementBytes: 2,
    evenOdd: true,
    vectors: 1,
    scales: F16_SCALES,
    // The weights times 2^-112 (the inputs and sums carry the 2^112). A subnormal half stays
    // subnormal here, which is exact too.
    widen: (f, raw, h) => f16TopToScaledF32(topHalves(f, raw[0], h), f),
    scalar: (f, t, address) =>
      f32x4.extractLane(
        f16TopToF32(i32x4.splat(i32.shl(i32.load16U(t.weights, address), i32.const(16))), f),
        0,
      ),
  },
  f32: {
    groupBytes: 32,
    elementBytes: 4,
    evenOdd: false,
    vectors: 2,
    widen: (_f, raw, h) => raw[h],
    scalar: (_f, t, address) => f32.load(t.weights, address),
  },
};

const EVEN = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
const ODD = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31];

/**
 * Emits `pack_x_even_odd` and `pack_x_plain`: X (T, n) row-major → scratch, token blocks of
 * `block` tokens, each block laid out group by group, token by token: `[g][t][8]` floats; with
 * `scale` (f16's 2^96, `GroupFormat.scales`), each float multiplied by it, under its own name.
 */
function emitPack(
  m: ModuleBuilder,
  target: KernelTarget,
  evenOdd: boolean,
  scale?: number,
): FunctionRef {
  const S = target.state, A = addressOps(target.address);
  return m.func(
    packName(evenOdd, scale),
    { x: A.type, cols: "i32", tokens: "i32", block: "i32", dst: A.type },
    null,
    (f, p) => {
      const scaled = (v: Expr) =>
        scale === undefined ? v : f32x4.mul(v, f.hoist("inputScale", v128.f32x4(scale)));
      const t0 = f.local("t0", "i32"), g = f.local("g", "i32"), t = f.local("t", "i32");
      const nb = f.local("nb", "i32"), groups = f.local("groups", "i32");
      const src = f.local("src", A.type), a = f.local("a", "v128"), b = f.local("b", "v128");
      f.set(groups, i32.shrU(p.cols, i32.const(3)));
      f.forRange(t0, i32.const(0), p.tokens, nb, () => {
        // nb = min(block, tokens - t0) tokens in this block
        f.set(nb, i32.sub(p.tokens, t0));
        f.if(i32.gtS(nb, p.block), () => f.set(nb, p.block));
        f.forRange(g, i32.const(0), groups, 1, () => {
          f.forRange(t, i32.const(0), nb, 1, () => {
            // src = x + ((t0 + t) · cols + 8g) · 4
            f.set(
              src,
              A.add(
                p.x,
                A.fromI32(
                  i32.shl(
                    i32.add(i32.mul(i32.add(t0, t), p.cols), i32.shl(g, i32.const(3))),
                    i32.const(2),
                  ),
                ),
              ),
            );
            f.set(a, scaled(v128.load(S, src)));
            f.set(b, scaled(v128.load(S, src, 16)));
            f.emit(v128.store(S, p.dst, evenOdd ? i8x16.shuffle(a, b, EVEN) : a));
            f.emit(v128.store(S, p.dst, evenOdd ? i8x16.shuffle(a, b, ODD) : b, 16));
            f.set(p.dst, A.add(p.dst, A.const(32)));
          });
        });
      });
    },
    `Copies X (tokens, cols) into blocks of \`block\` tokens, [group][token][8 floats]${
      evenOdd ? ", each group reordered [x0 x2 x4 x6 | x1 x3 x5 x7] to meet bf16/f16 weights" : ""
    }${scale === undefined ? "" : `, times 2^${Math.log2(scale)}`}.`,
  );
}

function packName(evenOdd: boolean, scale?: number): string {
  const name = evenOdd ? "pack_x_even_odd" : "pack_x_plain";
  return scale === undefined ? name : `${name}_scaled_${Math.log2(scale)}`;
}

/**
 * Emits one tile: `R` rows × `B` tokens over all full column groups, then the tail columns.
 */
function emitTile(
  m: ModuleBuilder,
  target: KernelTarget,
  type: FloatStorageType,
  R: number,
  B: number,
): FunctionRef {
  const fmt = FORMATS[type];
  const S = target.state, A = addressOps(target.address);
  return m.func(
    `tile_${type}_${R}x${B}`,
    {
      w: A.type, // row 0 of the tile
      rowBytes: A.type,
      xs: A.type, // the packed block of B tokens
      groups: "i32",
      tail: "i32",
      xt: A.type, // X[t0, 8 · groups]: the tail inputs of the block's first token
      xStride: A.type, // bytes between tokens in X
      out: A.type, // out[t0, row 0]
      outStride: A.type, // bytes between tokens in out
      outRowStride: A.type, // bytes between the tile's rows in out
    },
    null,
    (f, p) => {
      const wp = range(R).map((i) => f.local(`w${i}`, A.type));
      const acc = range(R).map((i) => range(B).map((t) => f.local(`acc${i}_${t}`, "v128")));
      const xv = range(B).map((t) => f.local(`x${t}`, "v128"));
      const wv = f.local("wv", "v128");
      const g = f.local("g", "i32"), j = f.local("j", "i32"), s = f.local("s", "f32");
      // The group's weights as loaded: kept in registers when they fit beside the
      // accumulators and inputs, else loaded again for the second half (from L1).
      const load = (i: number) =>
        range(fmt.vectors).map((k) => v128.load(target.weights, wp[i], 16 * k));
      const keepRaw = R * B + R * fmt.vectors + B + 2 <= VECTOR_REGISTERS;
      const raw = keepRaw
        ? range(R).map((i) => range(fmt.vectors).map((k) => f.local(`raw${i}_${k}`, "v128")))
        : [];
      f.set(wp[0], p.w);
      for (let i = 1; i < R; i++) f.set(wp[i], A.add(wp[i - 1], p.rowBytes));
      f.forRange(g, i32.const(0), p.groups, 1, () => {
        if (keepRaw) {
          for (let i = 0; i < R; i++) load(i).forEach((v, k) => f.set(raw[i][k], v));
        }
        for (const h of [0, 1] as const) {
          for (let t = 0; t < B; t++) f.set(xv[t], v128.load(S, p.xs, 32 * t + 16 * h));
          for (let i = 0; i < R; i++) {
            f.set(wv, fmt.widen(f, keepRaw ? raw[i] : load(i), h));
            for (let t = 0; t < B; t++) f.set(acc[i][t], madd(target, wv, xv[t], acc[i][t]));
          }
        }
        for (let i = 0; i < R; i++) f.set(wp[i], A.add(wp[i], A.const(fmt.groupBytes)));
        f.set(p.xs, A.add(p.xs, A.const(32 * B)));
      });
      for (let i = 0; i < R; i++) {
        for (let t = 0; t < B; t++) {
          const a = acc[i][t];
          const sum = f32.add(
            f32.add(f32x4.extractLane(a, 0), f32x4.extractLane(a, 1)),
            f32.add(f32x4.extractLane(a, 2), f32x4.extractLane(a, 3)),
          );
          // The scales taken off (exact), before the tail's unscaled products.
          f.set(s, fmt.scales === undefined ? sum : f32.mul(sum, f32.const(fmt.scales.sum)));
          const xRow = A.add(p.xt, A.mul(p.xStride, A.const(t)));
          f.forRange(j, i32.const(0), p.tail, 1, () => {
            const jj = A.fromI32(j);
            const weight = fmt.scalar(
              f,
              target,
              A.add(wp[i], A.mul(jj, A.const(fmt.elementBytes))),
            );
            f.set(
              s,
              f32.add(s, f32.mul(weight, f32.load(S, A.add(xRow, A.shl(jj, A.const(2)))))),
            );
          });
          const out = A.add(
            p.out,
            A.add(A.mul(p.outStride, A.const(t)), A.mul(p.outRowStride, A.const(i))),
          );
          f.emit(f32.store(S, out, s));
        }
      }
    },
    `${plural(R, "row")} × ${plural(B, "token")} of ${type} weights: ` +
      `${plural(R * B, "accumulator")}.`,
  );
}

/**
 * Emits `matmul_<type>(w, rowBytes, cols, x, out, outStride, tokens, rowStart, rowEnd,
 * scratch, xReady)`: out[t · outStride + r] = W[r, :] · X[t, :] for r in [rowStart, rowEnd), t <
 * tokens. Addresses are bytes: `w` (row 0 of W) in the weights memory, the rest in the state
 * memory; `scratch` holds at least `tokens · cols` floats.
 *
 * @param m The module.
 * @param target Memories and options.
 * @param type The weights' storage type.
 * @param plan Tile sizes.
 * @returns The exported function.
 */
export function emitMatMul(
  m: ModuleBuilder,
  target: KernelTarget,
  type: FloatStorageType,
  plan: TilePlan = DEFAULT_TILES[type],
): FunctionRef {
  const fmt = FORMATS[type], A = addressOps(target.address);
  const pack = m.functions.find((f) => f.name === packName(fmt.evenOdd, fmt.scales?.input)) ??
    emitPack(m, target, fmt.evenOdd, fmt.scales?.input);
  const tiles = new Map<string, FunctionRef>();
  const tile = (r: number, b: number) => {
    const key = `${r}x${b}`;
    if (!tiles.has(key)) tiles.set(key, emitTile(m, target, type, r, b));
    return tiles.get(key)!;
  };
  for (let r = 1; r <= plan.vectorRows; r++) tile(r, 1);
  for (let r = 1; r <= plan.rows; r++) for (let b = 1; b <= plan.tokens; b++) tile(r, b);

  return m.func(
    `matmul_${type}`,
    {
      w: A.type,
      rowBytes: "i32",
      cols: "i32",
      x: A.type,
      out: A.type,
      outStride: "i32",
      tokens: "i32",
      rowStart: "i32",
      rowEnd: "i32",
      scratch: A.type,
      xReady: "i32", // non-zero: the scratch already holds X packed for these tokens
    },
    null,
    (f, p) => {
      const r = f.local("r", "i32"), t = f.local("t", "i32");
      const nr = f.local("nr", "i32"), nb = f.local("nb", "i32"), block = f.local("block", "i32");
      const rowsPerTile = f.local("rowsPerTile", "i32");
      const groups = f.local("groups", "i32"), tail = f.local("tail", "i32");
      const rowBytes = f.local("rowBytes64", A.type), xs = f.local("xs", A.type);
      const xStride = f.local("xStride", A.type), outStride = f.local("outStride64", A.type);
      f.set(groups, i32.shrU(p.cols, i32.const(3)));
      f.set(tail, i32.and(p.cols, i32.const(7)));
      f.set(rowBytes, A.fromI32(p.rowBytes));
      f.set(xStride, A.fromI32(i32.shl(p.cols, i32.const(2))));
      f.set(outStride, A.fromI32(i32.shl(p.outStride, i32.const(2))));
      // One token: the matrix × vector tiles; more: the matrix × matrix ones.
      f.set(block, i32.const(plan.tokens));
      f.set(rowsPerTile, i32.const(plan.rows));
      f.if(i32.eq(p.tokens, i32.const(1)), () => {
        f.set(block, i32.const(1));
        f.set(rowsPerTile, i32.const(plan.vectorRows));
      });
      f.if(i32.eqz(p.xReady), () => f.emit(call(pack, p.x, p.cols, p.tokens, block, p.scratch)));
      const args = (row: Expr, rowStride: Expr, token: Expr, outRowStride: Expr) => [
        A.add(p.w, A.mul(A.fromI32(row), rowBytes)),
        rowStride,
        xs,
        groups,
        tail,
        A.add(
          p.x,
          A.add(A.mul(A.fromI32(token), xStride), A.fromI32(i32.shl(groups, i32.const(5)))),
        ),
        xStride,
        A.add(
          p.out,
          A.add(A.mul(A.fromI32(token), outStride), A.fromI32(i32.shl(row, i32.const(2)))),
        ),
        outStride,
        outRowStride,
      ];
      f.if(
        i32.and(i32.eq(p.tokens, i32.const(1)), i32.gtS(rowsPerTile, i32.const(1))),
        () => {
          // One token: rows from runs of the range (`callRunTiles`).
          f.set(xs, p.scratch);
          const rows = { start: p.rowStart, end: p.rowEnd, perTile: rowsPerTile, bytes: rowBytes };
          callRunTiles(
            f,
            tiles,
            A,
            rows,
            nr,
            nb,
            (row, stride, outRowStride) => args(row, stride, i32.const(0), outRowStride),
          );
        },
        () => {
          f.forRange(r, p.rowStart, p.rowEnd, nr, () => {
            f.set(nr, i32.sub(p.rowEnd, r));
            f.if(i32.gtS(nr, rowsPerTile), () => f.set(nr, rowsPerTile));
            f.set(xs, p.scratch);
            f.forRange(t, i32.const(0), p.tokens, nb, () => {
              f.set(nb, i32.sub(p.tokens, t));
              f.if(i32.gtS(nb, block), () => f.set(nb, block));
              callTile(f, tiles, nr, nb, args(r, rowBytes, t, A.const(4)));
              f.set(xs, A.add(xs, A.fromI32(i32.mul(nb, i32.shl(groups, i32.const(5))))));
            });
          });
        },
      );
    },
    `out (tokens, d) = X (tokens, cols) @ W^T for rows [rowStart, rowEnd) of ${type} weights. ` +
      `Tiles: ${plan.rows}×${plan.tokens} for prefill, ${plan.vectorRows}×1 for one token.`,
  );
}

/**
 * Emits the call of the tile for `nr` rows × `nb` tokens: a chain of comparisons over the tile
 * sizes that exist (`tiles` is keyed `"RxB"`), the 1 × 1 tile when none matches.
 *
 * @param f The function being emitted.
 * @param tiles The emitted tiles, by size.
 * @param nr Rows of this tile (an i32 local).
 * @param nb Tokens of this tile (an i32 local).
 * @param args The tile's arguments.
 */
export function callTile(
  f: FunctionBuilder,
  tiles: ReadonlyMap<string, FunctionRef>,
  nr: Expr,
  nb: Expr,
  args: readonly Expr[],
): void {
  const sizes = [...tiles.keys()].map((k) => k.split("x").map(Number));
  const dispatch = (k: number) => {
    if (k === sizes.length) return f.emit(call(tiles.get("1x1")!, ...args));
    const [rr, bb] = sizes[k];
    f.if(
      i32.and(i32.eq(nr, i32.const(rr)), i32.eq(nb, i32.const(bb))),
      () => f.emit(call(tiles.get(`${rr}x${bb}`)!, ...args)),
      () => dispatch(k + 1),
    );
  };
  dispatch(0);
}

/**
 * Emits one token's tiles over the rows `[rowStart, rowEnd)`: tiles of `rowsPerTile` rows that
 * take one row from each of `rowsPerTile` equal runs of `k` rows, so that each of a tile's rows
 * streams on through its run instead of ending after one row, then 1-row tiles for the rows
 * left over. `args(row, rowStride, outRowStride)` gives the arguments of the tile whose first
 * row is `row` (strides in bytes); `nr` and `nb` are the i32 locals `callTile` reads.
 */
export function callRunTiles(
  f: FunctionBuilder,
  tiles: ReadonlyMap<string, FunctionRef>,
  A: AddressOps,
  rows: { readonly start: Expr; readonly end: Expr; readonly perTile: Local; readonly bytes: Expr },
  nr: Local,
  nb: Local,
  args: (row: Expr, rowStride: Expr, outRowStride: Expr) => Expr[],
): void {
  const k = f.temp("runRows", "i32"), j = f.temp("run", "i32"), r = f.temp("leftRow", "i32");
  f.set(k, i32.divU(i32.sub(rows.end, rows.start), rows.perTile));
  f.set(nr, rows.perTile);
  f.set(nb, i32.const(1));
  const rowStride = A.mul(A.fromI32(k), rows.bytes);
  const outRowStride = A.fromI32(i32.shl(k, i32.const(2)));
  f.forRange(j, i32.const(0), k, 1, () => {
    callTile(f, tiles, nr, nb, args(i32.add(rows.start, j), rowStride, outRowStride));
  });
  f.set(nr, i32.const(1));
  f.forRange(r, i32.add(rows.start, i32.mul(k, rows.perTile)), rows.end, 1, () => {
    callTile(f, tiles, nr, nb, args(r, rows.bytes, A.const(4)));
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
