/**
 * bfloat16 → float32, exactly.
 *
 * A bfloat16 is the top half of a float32: same sign bit, same 8 exponent bits, 7 of the 23
 * mantissa bits. Widening it is a 16-bit left shift of the bit pattern, so every bf16 value
 * (normal, subnormal, ±0, ±inf, NaN) has an exact float32 twin.
 *
 * The kernels read bf16 weights through {@linkcode BF16_TO_F32}, a 65536-entry table (256 KiB)
 * indexed by the bit pattern: one load per element, no arithmetic. It measured at least as fast as
 * shifting through an `Int32Array`/`Float32Array` alias (see `bench/matvec_bench.ts`), and the
 * same table shape serves float16 (`f16.ts`), so both 16-bit types share one kernel. Weights of a
 * trained model use few distinct exponents, so the entries actually touched stay in L1.
 *
 * @example
 * ```ts
 * import { bf16ToF32, BF16_TO_F32 } from "./bf16.ts";
 *
 * bf16ToF32(0x3f80); // 1
 * BF16_TO_F32[0xc000]; // -2
 * ```
 *
 * @module
 */

function buildBf16Table(): Float32Array {
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let i = 0; i < 65536; i++) bits[i] = i << 16;
  return table;
}

/** `BF16_TO_F32[bits]` is the float32 value of the bf16 bit pattern `bits` (0..65535). */
export const BF16_TO_F32: Float32Array = buildBf16Table();

/**
 * The value of one bf16 bit pattern.
 *
 * @param bits A 16-bit pattern, 0..65535.
 * @returns Its exact value.
 */
export function bf16ToF32(bits: number): number {
  return BF16_TO_F32[bits & 0xffff];
}
