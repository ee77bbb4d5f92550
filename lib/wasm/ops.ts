/**
 * Typed expression helpers, one namespace per value shape as in the text format: `i32.add(a,
 * b)`, `f32x4.mul(a, b)`, `v128.load(memory, address, offset)`. Each returns an
 * {@linkcode Expr} that emits its operands, then its instruction; operand types are checked
 * against the instruction table as the expression is built.
 *
 * @example
 * ```ts
 * import { f32x4, i32, v128 } from "./ops.ts";
 * import { ModuleBuilder } from "./module.ts";
 *
 * const m = new ModuleBuilder();
 * const mem = m.importMemory("memory", { address: "i32", minimum: 1 });
 * m.func("double4", { p: "i32" }, null, (f, { p }) => {
 *   const v = v128.load(mem, p);
 *   f.emit(v128.store(mem, p, f32x4.add(v, v)));
 * });
 * i32.const(1);
 * ```
 *
 * @module
 */

import { type InstructionName, INSTRUCTIONS, type ValType } from "./instructions.ts";
import type { Expr, FunctionRef, Instr, Memory } from "./module.ts";

type Extra = Omit<Instr, "name">;

/** The instruction `name` applied to `args`, its immediate in `extra`. */
function apply(name: InstructionName, args: readonly Expr[], extra: Extra = {}): Expr {
  const info = INSTRUCTIONS[name];
  const params = info.params;
  if (args.length !== params.length) {
    throw new Error(`${name}: expected ${params.length} operands, found ${args.length}`);
  }
  params.forEach((want, i) => {
    const type = want === "a" ? extra.memarg!.memory.address : want;
    if (args[i].type !== type) {
      throw new Error(`${name}: operand ${i + 1} must be ${type}, found ${args[i].type}`);
    }
  });
  const results = info.results as readonly ValType[];
  return {
    type: results.length === 0 ? null : results[0],
    emit(code) {
      for (const arg of args) arg.emit(code);
      code.push({ name, ...extra });
    },
  };
}

function memarg(name: InstructionName, memory: Memory, offset: number): Extra {
  const info = INSTRUCTIONS[name] as { naturalAlign?: number };
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new Error(`${name}: expected a constant offset ≥ 0, found ${offset}`);
  }
  return { memarg: { memory, align: info.naturalAlign ?? 0, offset } };
}

const un = (name: InstructionName) => (a: Expr): Expr => apply(name, [a]);
const bin = (name: InstructionName) => (a: Expr, b: Expr): Expr => apply(name, [a, b]);
const tern = (name: InstructionName) => (a: Expr, b: Expr, c: Expr): Expr => apply(name, [a, b, c]);
const load = (name: InstructionName) => (memory: Memory, address: Expr, offset = 0): Expr =>
  apply(name, [address], memarg(name, memory, offset));
const store =
  (name: InstructionName) => (memory: Memory, address: Expr, value: Expr, offset = 0): Expr =>
    apply(name, [address, value], memarg(name, memory, offset));
const loadLane =
  (name: InstructionName) =>
  (memory: Memory, address: Expr, v: Expr, index: number, offset = 0): Expr =>
    apply(name, [address, v], { ...memarg(name, memory, offset), lane: index });
const lane = (name: InstructionName) => (a: Expr, index: number): Expr =>
  apply(name, [a], { lane: index });

/** 32-bit integers. */
export const i32 = {
  const: (value: number): Expr => apply("i32.const", [], { value: value | 0 }),
  add: bin("i32.add"),
  sub: bin("i32.sub"),
  mul: bin("i32.mul"),
  divU: bin("i32.div_u"),
  remU: bin("i32.rem_u"),
  and: bin("i32.and"),
  or: bin("i32.or"),
  xor: bin("i32.xor"),
  shl: bin("i32.shl"),
  shrS: bin("i32.shr_s"),
  shrU: bin("i32.shr_u"),
  eqz: un("i32.eqz"),
  eq: bin("i32.eq"),
  ne: bin("i32.ne"),
  ltS: bin("i32.lt_s"),
  ltU: bin("i32.lt_u"),
  gtS: bin("i32.gt_s"),
  gtU: bin("i32.gt_u"),
  leS: bin("i32.le_s"),
  geS: bin("i32.ge_s"),
  geU: bin("i32.ge_u"),
  wrapI64: un("i32.wrap_i64"),
  reinterpretF32: un("i32.reinterpret_f32"),
  load: load("i32.load"),
  load8U: load("i32.load8_u"),
  load8S: load("i32.load8_s"),
  load16U: load("i32.load16_u"),
  store: store("i32.store"),
  store16: store("i32.store16"),
};

/** 64-bit integers (addresses in a 64-bit memory). */
export const i64 = {
  const: (value: number | bigint): Expr => apply("i64.const", [], { value: BigInt(value) }),
  add: bin("i64.add"),
  sub: bin("i64.sub"),
  mul: bin("i64.mul"),
  and: bin("i64.and"),
  shl: bin("i64.shl"),
  shrU: bin("i64.shr_u"),
  eqz: un("i64.eqz"),
  ltU: bin("i64.lt_u"),
  geU: bin("i64.ge_u"),
  extendI32U: un("i64.extend_i32_u"),
  extendI32S: un("i64.extend_i32_s"),
  load: load("i64.load"),
  store: store("i64.store"),
};

/** 32-bit floats. */
export const f32 = {
  const: (value: number): Expr => apply("f32.const", [], { value }),
  abs: un("f32.abs"),
  neg: un("f32.neg"),
  sqrt: un("f32.sqrt"),
  add: bin("f32.add"),
  sub: bin("f32.sub"),
  mul: bin("f32.mul"),
  div: bin("f32.div"),
  max: bin("f32.max"),
  lt: bin("f32.lt"),
  gt: bin("f32.gt"),
  convertI32S: un("f32.convert_i32_s"),
  demoteF64: un("f32.demote_f64"),
  reinterpretI32: un("f32.reinterpret_i32"),
  load: load("f32.load"),
  store: store("f32.store"),
};

/** 64-bit floats. */
export const f64 = {
  const: (value: number): Expr => apply("f64.const", [], { value }),
  neg: un("f64.neg"),
  sqrt: un("f64.sqrt"),
  add: bin("f64.add"),
  sub: bin("f64.sub"),
  mul: bin("f64.mul"),
  div: bin("f64.div"),
  max: bin("f64.max"),
  lt: bin("f64.lt"),
  gt: bin("f64.gt"),
  convertI32S: un("f64.convert_i32_s"),
  promoteF32: un("f64.promote_f32"),
  load: load("f64.load"),
  store: store("f64.store"),
};

/** 128-bit vectors as bits: memory, constants, bitwise logic. */
export const v128 = {
  /** 16 bytes from memory. */
  load: load("v128.load"),
  /** 8 bytes, each sign- or zero-extended to a 16-bit lane. */
  load8x8S: load("v128.load8x8_s"),
  load8x8U: load("v128.load8x8_u"),
  /** 4 16-bit values, each extended to a 32-bit lane. */
  load16x4S: load("v128.load16x4_s"),
  load16x4U: load("v128.load16x4_u"),
  /** One value copied into every lane. */
  load8Splat: load("v128.load8_splat"),
  load16Splat: load("v128.load16_splat"),
  load32Splat: load("v128.load32_splat"),
  load64Splat: load("v128.load64_splat"),
  /** One value into lane 0, zeros elsewhere. */
  load32Zero: load("v128.load32_zero"),
  load64Zero: load("v128.load64_zero"),
  store: store("v128.store"),
  /** The 16- or 32-bit value at `address + offset` into lane `index` of `v`, the rest kept. */
  load16Lane: loadLane("v128.load16_lane"),
  load32Lane: loadLane("v128.load32_lane"),
  /** A constant from 16 little-endian bytes. */
  const: (bytes: readonly number[]): Expr => {
    if (bytes.length !== 16) {
      throw new Error(`v128.const: expected 16 bytes, found ${bytes.length}`);
    }
    return apply("v128.const", [], { bytes: bytes.map((b) => b & 0xff) });
  },
  /** A constant with the same 32-bit integer in every lane. */
  i32x4: (value: number): Expr => v128.const(lanes32(value)),
  /** A constant with the same float in every lane. */
  f32x4: (value: number): Expr => {
    const bits = new Uint32Array(new Float32Array([value]).buffer)[0];
    return v128.const(lanes32(bits));
  },
  not: un("v128.not"),
  and: bin("v128.and"),
  /** `a & ~b`. */
  andnot: bin("v128.andnot"),
  or: bin("v128.or"),
  xor: bin("v128.xor"),
  /** Bits of `a` where `mask` is 1, of `b` where it is 0. */
  bitselect: tern("v128.bitselect"),
  anyTrue: un("v128.any_true"),
};

function lanes32(value: number): number[] {
  const bytes = [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
  return [...bytes, ...bytes, ...bytes, ...bytes];
}

/** 16 lanes of 8-bit integers. */
export const i8x16 = {
  splat: un("i8x16.splat"),
  /** Lanes picked from `a ‖ b` by 16 constant indices. */
  shuffle: (a: Expr, b: Expr, indices: readonly number[]): Expr => {
    if (indices.length !== 16 || indices.some((i) => i < 0 || i > 31)) {
      throw new Error("i8x16.shuffle: expected 16 lane indices from 0 to 31");
    }
    return apply("i8x16.shuffle", [a, b], { bytes: indices });
  },
  /** Lanes of `a` picked by the lanes of `indices` (≥ 16 gives 0). */
  swizzle: bin("i8x16.swizzle"),
  extractLaneU: lane("i8x16.extract_lane_u"),
  /** 16 signed 16-bit lanes of `a ‖ b` to 8 bits, saturating. */
  narrowI16x8S: bin("i8x16.narrow_i16x8_s"),
  eq: bin("i8x16.eq"),
  shl: bin("i8x16.shl"),
  shrS: bin("i8x16.shr_s"),
  shrU: bin("i8x16.shr_u"),
  neg: un("i8x16.neg"),
  add: bin("i8x16.add"),
  sub: bin("i8x16.sub"),
  maxS: bin("i8x16.max_s"),
};

/** 8 lanes of 16-bit integers. */
export const i16x8 = {
  splat: un("i16x8.splat"),
  extractLaneU: lane("i16x8.extract_lane_u"),
  replaceLane: (a: Expr, index: number, value: Expr): Expr =>
    apply("i16x8.replace_lane", [a, value], { lane: index }),
  /** 8 signed 32-bit lanes of `a ‖ b` to 16 bits, saturating. */
  narrowI32x4S: bin("i16x8.narrow_i32x4_s"),
  extaddPairwiseI8x16S: un("i16x8.extadd_pairwise_i8x16_s"),
  extaddPairwiseI8x16U: un("i16x8.extadd_pairwise_i8x16_u"),
  extendLowI8x16S: un("i16x8.extend_low_i8x16_s"),
  extendHighI8x16S: un("i16x8.extend_high_i8x16_s"),
  extendLowI8x16U: un("i16x8.extend_low_i8x16_u"),
  extendHighI8x16U: un("i16x8.extend_high_i8x16_u"),
  shl: bin("i16x8.shl"),
  shrS: bin("i16x8.shr_s"),
  shrU: bin("i16x8.shr_u"),
  add: bin("i16x8.add"),
  sub: bin("i16x8.sub"),
  mul: bin("i16x8.mul"),
  /** Pairs of 8-bit products summed into 16-bit lanes (second operand's lanes ≤ 127: relaxed). */
  relaxedDotI8x16I7x16S: bin("i16x8.relaxed_dot_i8x16_i7x16_s"),
};

/** 4 lanes of 32-bit integers. */
export const i32x4 = {
  splat: un("i32x4.splat"),
  extractLane: lane("i32x4.extract_lane"),
  replaceLane: (a: Expr, index: number, value: Expr): Expr =>
    apply("i32x4.replace_lane", [a, value], { lane: index }),
  extaddPairwiseI16x8S: un("i32x4.extadd_pairwise_i16x8_s"),
  extendLowI16x8S: un("i32x4.extend_low_i16x8_s"),
  extendHighI16x8S: un("i32x4.extend_high_i16x8_s"),
  extendLowI16x8U: un("i32x4.extend_low_i16x8_u"),
  extendHighI16x8U: un("i32x4.extend_high_i16x8_u"),
  eq: bin("i32x4.eq"),
  gtU: bin("i32x4.gt_u"),
  shl: bin("i32x4.shl"),
  shrS: bin("i32x4.shr_s"),
  shrU: bin("i32x4.shr_u"),
  add: bin("i32x4.add"),
  sub: bin("i32x4.sub"),
  mul: bin("i32x4.mul"),
  maxS: bin("i32x4.max_s"),
  /** Pairwise products of 16-bit lanes, each adjacent pair summed into a 32-bit lane. */
  dotI16x8S: bin("i32x4.dot_i16x8_s"),
  /** `c + Σ` of four 8-bit products per lane (second operand's lanes ≤ 127: relaxed SIMD). */
  relaxedDotI8x16I7x16AddS: tern("i32x4.relaxed_dot_i8x16_i7x16_add_s"),
  truncSatF32x4S: un("i32x4.trunc_sat_f32x4_s"),
  /**
   * Truncation to int32 of floats that fit (relaxed SIMD: NaN and out-of-range lanes are left
   * to the machine; on x86-64 one `cvttps2dq`, where the saturating form takes several).
   */
  relaxedTruncF32x4S: un("i32x4.relaxed_trunc_f32x4_s"),
};

/** 2 lanes of 64-bit integers. */
export const i64x2 = {
  splat: un("i64x2.splat"),
  extractLane: lane("i64x2.extract_lane"),
};

/** 4 lanes of 32-bit floats. */
export const f32x4 = {
  splat: un("f32x4.splat"),
  extractLane: lane("f32x4.extract_lane"),
  replaceLane: (a: Expr, index: number, value: Expr): Expr =>
    apply("f32x4.replace_lane", [a, value], { lane: index }),
  abs: un("f32x4.abs"),
  neg: un("f32x4.neg"),
  sqrt: un("f32x4.sqrt"),
  /** Round to the nearest integer, ties to even. */
  nearest: un("f32x4.nearest"),
  floor: un("f32x4.floor"),
  add: bin("f32x4.add"),
  sub: bin("f32x4.sub"),
  mul: bin("f32x4.mul"),
  div: bin("f32x4.div"),
  min: bin("f32x4.min"),
  max: bin("f32x4.max"),
  /**
   * `b < a ? b : a` and `a < b ? b : a`: one `minps`/`maxps` on x86-64, where `min` and `max`
   * (NaN and −0 rules) take about nine instructions each in V8's code.
   */
  pmin: bin("f32x4.pmin"),
  pmax: bin("f32x4.pmax"),
  eq: bin("f32x4.eq"),
  lt: bin("f32x4.lt"),
  gt: bin("f32x4.gt"),
  convertI32x4S: un("f32x4.convert_i32x4_s"),
  convertI32x4U: un("f32x4.convert_i32x4_u"),
  demoteF64x2Zero: un("f32x4.demote_f64x2_zero"),
  /** `a · b + c`, fused or not as the machine does it fastest (relaxed SIMD). */
  relaxedMadd: tern("f32x4.relaxed_madd"),
  /** `-(a · b) + c`, fused or not (relaxed SIMD). */
  relaxedNmadd: tern("f32x4.relaxed_nmadd"),
};

/** 2 lanes of 64-bit floats. */
export const f64x2 = {
  splat: un("f64x2.splat"),
  extractLane: lane("f64x2.extract_lane"),
  promoteLowF32x4: un("f64x2.promote_low_f32x4"),
  add: bin("f64x2.add"),
  sub: bin("f64x2.sub"),
  mul: bin("f64x2.mul"),
  div: bin("f64x2.div"),
};

/**
 * A call of another function of the module.
 *
 * @param fn The function.
 * @param args Its arguments.
 * @returns Its result (or a statement, when it has none).
 */
export function call(fn: FunctionRef, ...args: Expr[]): Expr {
  if (args.length !== fn.params.length) {
    throw new Error(`call ${fn.name}: expected ${fn.params.length} arguments`);
  }
  args.forEach((a, i) => {
    if (a.type !== fn.params[i]) {
      throw new Error(`call ${fn.name}: argument ${i + 1} must be ${fn.params[i]}`);
    }
  });
  return {
    type: fn.result,
    emit(code) {
      for (const a of args) a.emit(code);
      code.push({ name: "call", func: fn });
    },
  };
}

/**
 * Evaluates `value` into `local` and yields it (`local.tee`): reuse without recomputing.
 *
 * @param local The variable (type of `value`).
 * @param value The expression.
 * @returns The value, left on the stack.
 */
export function tee(local: { index: number; name: string; type: ValType }, value: Expr): Expr {
  if (value.type !== local.type) throw new Error(`local.tee $${local.name}: type mismatch`);
  return {
    type: local.type,
    emit(code) {
      value.emit(code);
      code.push({ name: "local.tee", local: local as Instr["local"] });
    },
  };
}
