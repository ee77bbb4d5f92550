/**
 * The WebAssembly instructions our kernels use: for each, its binary opcode, the kind of
 * immediate that follows it, and the types it pops and pushes.
 *
 * One table serves three readers: the binary encoder (`module.ts`) writes the opcode, the text
 * printer (`text.ts`) writes the name, and the expression helpers (`ops.ts`) check operand
 * types while a kernel is being built, so a mistake fails where it was made instead of in the
 * engine's validator with a byte offset. Opcodes are those of the WebAssembly 2.0 core
 * specification (numeric and fixed-width SIMD instructions, prefix `0xfd`) and of the relaxed
 * SIMD proposal (`0xfd 0x100`…).
 *
 * Signatures read `"params > results"`, e.g. `"v128 v128 > v128"`; `a` stands for the address
 * type of the memory a load or store names (`i32`, or `i64` for a 64-bit memory).
 *
 * @module
 */

/** A WebAssembly value type. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

/** The binary code of each value type. */
export const VALTYPE_CODE: Readonly<Record<ValType, number>> = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
};

/** What follows an opcode in the binary. */
export type ImmediateKind =
  | "none"
  | "memarg" // alignment, memory index, offset
  | "memarg_lane" // a memarg, then one lane index byte (v128.load16_lane …)
  | "lane" // one lane index byte
  | "bytes16" // 16 literal bytes (v128.const, i8x16.shuffle)
  | "i32"
  | "i64"
  | "f32"
  | "f64"
  | "local" // local index
  | "label" // branch depth
  | "block" // block type
  | "func"; // function index

/** One row of the table. */
export interface InstructionInfo {
  /** Opcode bytes before any immediate: one byte, or the `0xfd` prefix and a LEB128 number. */
  readonly prefix: number | null;
  readonly code: number;
  readonly immediate: ImmediateKind;
  /** Popped types, bottom of the stack first (`"a"`: the memory's address type). */
  readonly params: readonly (ValType | "a")[];
  /** Pushed types. */
  readonly results: readonly ValType[];
  /** Natural alignment (log2 bytes) of a memory access, for the memarg. */
  readonly naturalAlign?: number;
}

function signature(text: string): Pick<InstructionInfo, "params" | "results"> {
  const [params = "", results = ""] = text.split(">").map((side) => side.trim());
  const list = (side: string) => (side === "" ? [] : side.split(/\s+/));
  return {
    params: list(params) as (ValType | "a")[],
    results: list(results) as ValType[],
  };
}

function plain(code: number, sig: string, immediate: ImmediateKind = "none"): InstructionInfo {
  return { prefix: null, code, immediate, ...signature(sig) };
}

function memory(code: number, sig: string, naturalAlign: number): InstructionInfo {
  return { prefix: null, code, immediate: "memarg", naturalAlign, ...signature(sig) };
}

function simd(code: number, sig: string, immediate: ImmediateKind = "none"): InstructionInfo {
  return { prefix: 0xfd, code, immediate, ...signature(sig) };
}

function simdMemory(code: number, sig: string, naturalAlign: number): InstructionInfo {
  return { prefix: 0xfd, code, immediate: "memarg", naturalAlign, ...signature(sig) };
}

function simdLane(code: number, naturalAlign: number): InstructionInfo {
  return {
    prefix: 0xfd,
    code,
    immediate: "memarg_lane",
    naturalAlign,
    ...signature("a v128 > v128"),
  };
}

const V2 = "v128 v128 > v128";
const V1 = "v128 > v128";

/** Every instruction the encoder knows, by its text-format name. */
export const INSTRUCTIONS = {
  // Control. Block-like instructions carry their block type; `end` closes them.
  unreachable: plain(0x00, ""),
  nop: plain(0x01, ""),
  block: plain(0x02, "", "block"),
  loop: plain(0x03, "", "block"),
  if: plain(0x04, "i32 >", "block"),
  else: plain(0x05, ""),
  end: plain(0x0b, ""),
  br: plain(0x0c, "", "label"),
  br_if: plain(0x0d, "i32 >", "label"),
  return: plain(0x0f, ""),
  call: plain(0x10, "", "func"),
  drop: plain(0x1a, ""),
  select: plain(0x1b, ""),

  // Variables. Their types come from the local, not from this table.
  "local.get": plain(0x20, "", "local"),
  "local.set": plain(0x21, "", "local"),
  "local.tee": plain(0x22, "", "local"),

  // Scalar memory access.
  "i32.load": memory(0x28, "a > i32", 2),
  "i64.load": memory(0x29, "a > i64", 3),
  "f32.load": memory(0x2a, "a > f32", 2),
  "f64.load": memory(0x2b, "a > f64", 3),
  "i32.load8_s": memory(0x2c, "a > i32", 0),
  "i32.load8_u": memory(0x2d, "a > i32", 0),
  "i32.load16_s": memory(0x2e, "a > i32", 1),
  "i32.load16_u": memory(0x2f, "a > i32", 1),
  "i32.store": memory(0x36, "a i32 >", 2),
  "i64.store": memory(0x37, "a i64 >", 3),
  "f32.store": memory(0x38, "a f32 >", 2),
  "f64.store": memory(0x39, "a f64 >", 3),
  "i32.store16": memory(0x3b, "a i32 >", 1),

  // Constants.
  "i32.const": plain(0x41, "> i32", "i32"),
  "i64.const": plain(0x42, "> i64", "i64"),
  "f32.const": plain(0x43, "> f32", "f32"),
  "f64.const": plain(0x44, "> f64", "f64"),

  // i32 arithmetic and comparisons.
  "i32.eqz": plain(0x45, "i32 > i32"),
  "i32.eq": plain(0x46, "i32 i32 > i32"),
  "i32.ne": plain(0x47, "i32 i32 > i32"),
  "i32.lt_s": plain(0x48, "i32 i32 > i32"),
  "i32.lt_u": plain(0x49, "i32 i32 > i32"),
  "i32.gt_s": plain(0x4a, "i32 i32 > i32"),
  "i32.gt_u": plain(0x4b, "i32 i32 > i32"),
  "i32.le_s": plain(0x4c, "i32 i32 > i32"),
  "i32.le_u": plain(0x4d, "i32 i32 > i32"),
  "i32.ge_s": plain(0x4e, "i32 i32 > i32"),
  "i32.ge_u": plain(0x4f, "i32 i32 > i32"),
  "i64.eqz": plain(0x50, "i64 > i32"),
  "i64.lt_u": plain(0x54, "i64 i64 > i32"),
  "i64.ge_u": plain(0x5a, "i64 i64 > i32"),
  "f32.lt": plain(0x5d, "f32 f32 > i32"),
  "f32.gt": plain(0x5e, "f32 f32 > i32"),
  "f64.lt": plain(0x63, "f64 f64 > i32"),
  "f64.gt": plain(0x64, "f64 f64 > i32"),
  "i32.add": plain(0x6a, "i32 i32 > i32"),
  "i32.sub": plain(0x6b, "i32 i32 > i32"),
  "i32.mul": plain(0x6c, "i32 i32 > i32"),
  "i32.div_u": plain(0x6e, "i32 i32 > i32"),
  "i32.rem_u": plain(0x70, "i32 i32 > i32"),
  "i32.and": plain(0x71, "i32 i32 > i32"),
  "i32.or": plain(0x72, "i32 i32 > i32"),
  "i32.xor": plain(0x73, "i32 i32 > i32"),
  "i32.shl": plain(0x74, "i32 i32 > i32"),
  "i32.shr_s": plain(0x75, "i32 i32 > i32"),
  "i32.shr_u": plain(0x76, "i32 i32 > i32"),
  "i64.add": plain(0x7c, "i64 i64 > i64"),
  "i64.sub": plain(0x7d, "i64 i64 > i64"),
  "i64.mul": plain(0x7e, "i64 i64 > i64"),
  "i64.and": plain(0x83, "i64 i64 > i64"),
  "i64.shl": plain(0x86, "i64 i64 > i64"),
  "i64.shr_u": plain(0x88, "i64 i64 > i64"),

  // Scalar floating point.
  "f32.abs": plain(0x8b, "f32 > f32"),
  "f32.neg": plain(0x8c, "f32 > f32"),
  "f32.sqrt": plain(0x91, "f32 > f32"),
  "f32.add": plain(0x92, "f32 f32 > f32"),
  "f32.sub": plain(0x93, "f32 f32 > f32"),
  "f32.mul": plain(0x94, "f32 f32 > f32"),
  "f32.div": plain(0x95, "f32 f32 > f32"),
  "f32.max": plain(0x97, "f32 f32 > f32"),
  "f64.neg": plain(0x9a, "f64 > f64"),
  "f64.sqrt": plain(0x9f, "f64 > f64"),
  "f64.add": plain(0xa0, "f64 f64 > f64"),
  "f64.sub": plain(0xa1, "f64 f64 > f64"),
  "f64.mul": plain(0xa2, "f64 f64 > f64"),
  "f64.div": plain(0xa3, "f64 f64 > f64"),
  "f64.max": plain(0xa5, "f64 f64 > f64"),

  // Conversions.
  "i32.wrap_i64": plain(0xa7, "i64 > i32"),
  "i64.extend_i32_u": plain(0xad, "i32 > i64"),
  "i64.extend_i32_s": plain(0xac, "i32 > i64"),
  "f32.convert_i32_s": plain(0xb2, "i32 > f32"),
  "f32.demote_f64": plain(0xb6, "f64 > f32"),
  "f64.convert_i32_s": plain(0xb7, "i32 > f64"),
  "f64.promote_f32": plain(0xbb, "f32 > f64"),
  "i32.reinterpret_f32": plain(0xbc, "f32 > i32"),
  "f32.reinterpret_i32": plain(0xbe, "i32 > f32"),

  // SIMD memory access.
  "v128.load": simdMemory(0x00, "a > v128", 4),
  "v128.load8x8_s": simdMemory(0x01, "a > v128", 3),
  "v128.load8x8_u": simdMemory(0x02, "a > v128", 3),
  "v128.load16x4_s": simdMemory(0x03, "a > v128", 3),
  "v128.load16x4_u": simdMemory(0x04, "a > v128", 3),
  "v128.load8_splat": simdMemory(0x07, "a > v128", 0),
  "v128.load16_splat": simdMemory(0x08, "a > v128", 1),
  "v128.load32_splat": simdMemory(0x09, "a > v128", 2),
  "v128.load64_splat": simdMemory(0x0a, "a > v128", 3),
  "v128.store": simdMemory(0x0b, "a v128 >", 4),
  "v128.load32_zero": simdMemory(0x5c, "a > v128", 2),
  "v128.load64_zero": simdMemory(0x5d, "a > v128", 3),
  // One value from memory into one lane, the other lanes kept.
  "v128.load16_lane": simdLane(0x55, 1),
  "v128.load32_lane": simdLane(0x56, 2),

  // SIMD constants, lane moves.
  "v128.const": simd(0x0c, "> v128", "bytes16"),
  "i8x16.shuffle": simd(0x0d, V2, "bytes16"),
  "i8x16.swizzle": simd(0x0e, V2),
  "i8x16.splat": simd(0x0f, "i32 > v128"),
  "i16x8.splat": simd(0x10, "i32 > v128"),
  "i32x4.splat": simd(0x11, "i32 > v128"),
  "i64x2.splat": simd(0x12, "i64 > v128"),
  "f32x4.splat": simd(0x13, "f32 > v128"),
  "f64x2.splat": simd(0x14, "f64 > v128"),
  "i8x16.extract_lane_u": simd(0x16, "v128 > i32", "lane"),
  "i16x8.extract_lane_u": simd(0x19, "v128 > i32", "lane"),
  "i16x8.replace_lane": simd(0x1a, "v128 i32 > v128", "lane"),
  "i32x4.extract_lane": simd(0x1b, "v128 > i32", "lane"),
  "i32x4.replace_lane": simd(0x1c, "v128 i32 > v128", "lane"),
  "i64x2.extract_lane": simd(0x1d, "v128 > i64", "lane"),
  "f32x4.extract_lane": simd(0x1f, "v128 > f32", "lane"),
  "f32x4.replace_lane": simd(0x20, "v128 f32 > v128", "lane"),
  "f64x2.extract_lane": simd(0x21, "v128 > f64", "lane"),

  // SIMD comparisons.
  "i8x16.eq": simd(0x23, V2),
  "i32x4.eq": simd(0x37, V2),
  "i32x4.gt_u": simd(0x3c, V2),
  "f32x4.eq": simd(0x41, V2),
  "f32x4.lt": simd(0x43, V2),
  "f32x4.gt": simd(0x44, V2),

  // SIMD bitwise.
  "v128.not": simd(0x4d, V1),
  "v128.and": simd(0x4e, V2),
  "v128.andnot": simd(0x4f, V2),
  "v128.or": simd(0x50, V2),
  "v128.xor": simd(0x51, V2),
  "v128.bitselect": simd(0x52, "v128 v128 v128 > v128"),
  "v128.any_true": simd(0x53, "v128 > i32"),

  // SIMD f32/f64 conversions.
  "f32x4.demote_f64x2_zero": simd(0x5e, V1),
  "f64x2.promote_low_f32x4": simd(0x5f, V1),

  // f32x4 rounding.
  "f32x4.ceil": simd(0x67, V1),
  "f32x4.floor": simd(0x68, V1),
  "f32x4.trunc": simd(0x69, V1),
  "f32x4.nearest": simd(0x6a, V1),

  // Narrowing (signed saturation).
  "i8x16.narrow_i16x8_s": simd(0x65, V2),
  "i16x8.narrow_i32x4_s": simd(0x85, V2),

  // i8x16.
  "i8x16.shl": simd(0x6b, "v128 i32 > v128"),
  "i8x16.shr_s": simd(0x6c, "v128 i32 > v128"),
  "i8x16.shr_u": simd(0x6d, "v128 i32 > v128"),
  "i8x16.neg": simd(0x61, V1),
  "i8x16.add": simd(0x6e, V2),
  "i8x16.sub": simd(0x71, V2),
  "i8x16.max_s": simd(0x78, V2),

  // i16x8.
  "i16x8.extadd_pairwise_i8x16_s": simd(0x7c, V1),
  "i16x8.extadd_pairwise_i8x16_u": simd(0x7d, V1),
  "i32x4.extadd_pairwise_i16x8_s": simd(0x7e, V1),
  "i16x8.extend_low_i8x16_s": simd(0x87, V1),
  "i16x8.extend_high_i8x16_s": simd(0x88, V1),
  "i16x8.extend_low_i8x16_u": simd(0x89, V1),
  "i16x8.extend_high_i8x16_u": simd(0x8a, V1),
  "i16x8.shl": simd(0x8b, "v128 i32 > v128"),
  "i16x8.shr_s": simd(0x8c, "v128 i32 > v128"),
  "i16x8.shr_u": simd(0x8d, "v128 i32 > v128"),
  "i16x8.add": simd(0x8e, V2),
  "i16x8.sub": simd(0x91, V2),
  "i16x8.mul": simd(0x95, V2),

  // i32x4.
  "i32x4.extend_low_i16x8_s": simd(0xa7, V1),
  "i32x4.extend_high_i16x8_s": simd(0xa8, V1),
  "i32x4.extend_low_i16x8_u": simd(0xa9, V1),
  "i32x4.extend_high_i16x8_u": simd(0xaa, V1),
  "i32x4.shl": simd(0xab, "v128 i32 > v128"),
  "i32x4.shr_s": simd(0xac, "v128 i32 > v128"),
  "i32x4.shr_u": simd(0xad, "v128 i32 > v128"),
  "i32x4.add": simd(0xae, V2),
  "i32x4.sub": simd(0xb1, V2),
  "i32x4.mul": simd(0xb5, V2),
  "i32x4.max_s": simd(0xb8, V2),
  "i32x4.dot_i16x8_s": simd(0xba, V2),

  // f32x4.
  "f32x4.abs": simd(0xe0, V1),
  "f32x4.neg": simd(0xe1, V1),
  "f32x4.sqrt": simd(0xe3, V1),
  "f32x4.add": simd(0xe4, V2),
  "f32x4.sub": simd(0xe5, V2),
  "f32x4.mul": simd(0xe6, V2),
  "f32x4.div": simd(0xe7, V2),
  "f32x4.min": simd(0xe8, V2),
  "f32x4.max": simd(0xe9, V2),
  "f32x4.pmin": simd(0xea, V2),
  "f32x4.pmax": simd(0xeb, V2),

  // f64x2.
  "f64x2.add": simd(0xf0, V2),
  "f64x2.sub": simd(0xf1, V2),
  "f64x2.mul": simd(0xf2, V2),
  "f64x2.div": simd(0xf3, V2),

  // Integer ↔ float lanes.
  "i32x4.trunc_sat_f32x4_s": simd(0xf8, V1),
  "f32x4.convert_i32x4_s": simd(0xfa, V1),
  "f32x4.convert_i32x4_u": simd(0xfb, V1),

  // Relaxed SIMD: results may differ between machines only where the spec allows (here: a
  // fused or an unfused multiply-add; signed or unsigned high bit in the i8 dot product).
  "i32x4.relaxed_trunc_f32x4_s": simd(0x101, V1),
  "f32x4.relaxed_madd": simd(0x105, "v128 v128 v128 > v128"),
  "f32x4.relaxed_nmadd": simd(0x106, "v128 v128 v128 > v128"),
  "i16x8.relaxed_dot_i8x16_i7x16_s": simd(0x112, V2),
  "i32x4.relaxed_dot_i8x16_i7x16_add_s": simd(0x113, "v128 v128 v128 > v128"),
} as const satisfies Record<string, InstructionInfo>;

/** The name of an instruction the encoder knows. */
export type InstructionName = keyof typeof INSTRUCTIONS;
