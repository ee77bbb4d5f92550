/**
 * IEEE 754 half precision (float16) → float32, exactly.
 *
 * Every float16 value has an exact float32 twin: 5 exponent bits widen to 8 and 10 mantissa
 * bits to 23. Subnormal halves (exponent field 0) are `mantissa · 2^-24`, which float32 holds as
 * normal numbers. The kernels read f16 weights through {@linkcode F16_TO_F32}, a 65536-entry
 * table built once, the same way they read bf16 (see `bf16.ts`).
 *
 * @example
 * ```ts
 * import { f16ToF32 } from "./f16.ts";
 *
 * f16ToF32(0x3c00); // 1
 * f16ToF32(0x0001); // 2^-24, the smallest subnormal
 * ```
 *
 * @module
 */

function buildF16Table(): Float32Array {
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) {
      // inf (mantissa 0) or NaN: all-ones exponent, mantissa kept (quiet bit stays the top bit).
      bits[h] = sign | 0x7f800000 | (mantissa << 13);
    } else if (exponent === 0) {
      // ±0 and subnormals: mantissa · 2^-24 is exact in float32.
      const value = mantissa * 2 ** -24;
      table[h] = sign ? -value : value;
    } else {
      // Normal: rebias the exponent from 15 to 127.
      bits[h] = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
  }
  return table;
}

/** `F16_TO_F32[bits]` is the float32 value of the float16 bit pattern `bits` (0..65535). */
export const F16_TO_F32: Float32Array = buildF16Table();

/**
 * The value of one float16 bit pattern.
 *
 * @param bits A 16-bit pattern, 0..65535.
 * @returns Its exact value.
 */
export function f16ToF32(bits: number): number {
  return F16_TO_F32[bits & 0xffff];
}
