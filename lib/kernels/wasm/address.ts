/**
 * Address arithmetic for either kind of WebAssembly memory. The engine's memories are 64-bit
 * (memory64: the 8B's 15 GiB of weights do not fit in 4 GiB), so kernels compute addresses in
 * i64; the same kernels emitted over 32-bit memories let a bench measure what the wider
 * addresses cost (`bench/variants_bench.ts`). A kernel asks {@linkcode addressOps} once and
 * writes `A.add(p.w, A.fromI32(offset))` where it would write `i64.add(…, i64.extendI32U(…))`.
 *
 * @example
 * ```ts
 * import { addressOps } from "./address.ts";
 * import { i32 } from "../../wasm/ops.ts";
 *
 * const A = addressOps("i64");
 * A.fromI32(i32.const(16)); // i64.extend_i32_u (i32.const 16)
 * ```
 *
 * @module
 */

import type { Expr } from "../../wasm/module.ts";
import { i32, i64 } from "../../wasm/ops.ts";

/** The address type of a memory. */
export type AddressType = "i32" | "i64";

/** The integer operations addresses need, in one address type. */
export interface AddressOps {
  /** The value type of an address. */
  readonly type: AddressType;
  readonly const: (value: number) => Expr;
  readonly add: (a: Expr, b: Expr) => Expr;
  readonly mul: (a: Expr, b: Expr) => Expr;
  readonly shl: (a: Expr, b: Expr) => Expr;
  /** An unsigned i32 (a count or an offset) as an address. */
  readonly fromI32: (value: Expr) => Expr;
}

const ADDRESS_64: AddressOps = {
  type: "i64",
  const: (value) => i64.const(value),
  add: i64.add,
  mul: i64.mul,
  shl: i64.shl,
  fromI32: i64.extendI32U,
};

const ADDRESS_32: AddressOps = {
  type: "i32",
  const: (value) => i32.const(value),
  add: i32.add,
  mul: i32.mul,
  shl: i32.shl,
  fromI32: (value) => value,
};

/**
 * The address operations of a memory's address type.
 *
 * @param type `"i64"` for memory64 (what the engine uses), `"i32"` for a classic memory.
 * @returns Its operations.
 */
export function addressOps(type: AddressType = "i64"): AddressOps {
  return type === "i64" ? ADDRESS_64 : ADDRESS_32;
}
