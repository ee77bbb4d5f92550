/**
 * float32 → a storage type: how writers (`convert`, `make-model`) turn rows of floats into the
 * bytes of a type. One encoder per {@linkcode StorageType} row; block types use their codec's
 * reference quantizer (`lib/kernels/quant/`).
 *
 * Rounding is to nearest, ties to even, as torch and ggml round: float16 values beyond its range
 * become ±infinity, values below half its smallest subnormal become ±0; NaN stays NaN.
 *
 * @example
 * ```ts
 * import { encodeRow } from "./encode_rows.ts";
 *
 * const out = new Uint8Array(4);
 * encodeRow("f16", new Float32Array([1, -2]), out); // out = [0x00, 0x3c, 0x00, 0xc0]
 * ```
 *
 * @module
 */

import { BLOCK_CODECS } from "../kernels/quant/codecs.ts";
import { storageBytes, type StorageType } from "./storage.ts";

/** Writes `src` (whole blocks of the type) as the type's bytes into `out`. */
export type RowEncoder = (src: Float32Array, out: Uint8Array) => void;

/** Every storage type's encoder. */
export const ROW_ENCODERS: { readonly [T in StorageType]: RowEncoder } = {
  f32: (src, out) => out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength)),
  f16: (src, out) => encodeHalves(src, out, f32BitsToF16),
  bf16: (src, out) => encodeHalves(src, out, f32BitsToBf16),
  q8_0: (src, out) => BLOCK_CODECS.q8_0.quantize(src, out, 0),
  q4_0: (src, out) => BLOCK_CODECS.q4_0.quantize(src, out, 0),
  q5_0: (src, out) => BLOCK_CODECS.q5_0.quantize(src, out, 0),
  q4_k: (src, out) => BLOCK_CODECS.q4_k.quantize(src, out, 0),
  q5_k: (src, out) => BLOCK_CODECS.q5_k.quantize(src, out, 0),
  q6_k: (src, out) => BLOCK_CODECS.q6_k.quantize(src, out, 0),
};

/**
 * Encodes float32 values as a storage type.
 *
 * @param type The target type.
 * @param src Values, a whole number of the type's blocks.
 * @param out Receives exactly `storageBytes(type, src.length)` bytes.
 * @throws {RangeError} When `out` has the wrong length.
 */
export function encodeRow(type: StorageType, src: Float32Array, out: Uint8Array): void {
  const expected = storageBytes(type, src.length);
  if (out.length !== expected) {
    throw new RangeError(`expected ${expected} output bytes for ${src.length} ${type} elements`);
  }
  ROW_ENCODERS[type](src, out);
}

function encodeHalves(src: Float32Array, out: Uint8Array, half: (bits: number) => number): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  if (out.byteOffset % 2 === 0) {
    const halves = new Uint16Array(out.buffer, out.byteOffset, src.length);
    for (let i = 0; i < bits.length; i++) halves[i] = half(bits[i]);
    return;
  }
  for (let i = 0; i < bits.length; i++) {
    const h = half(bits[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
}

/**
 * The bfloat16 nearest to a float32: its top 16 bits, rounded to nearest even.
 *
 * @param bits A float32 bit pattern (unsigned).
 * @returns The bfloat16 bit pattern.
 */
export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x0040; // NaN stays quiet NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) / 65536) >>> 0;
}

/**
 * The float16 nearest to a float32, rounded to nearest even.
 *
 * @param bits A float32 bit pattern (unsigned).
 * @returns The float16 bit pattern.
 */
export function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 112; // rebias from 127 to 15
  if (e >= 0x1f) return sign | 0x7c00; // too large: infinity
  if (e <= 0) {
    // A subnormal half (or zero): count units of 2^-24 in the 24-bit significand.
    if (e < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - e;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    let m = significand >>> shift;
    if (rest > halfway || (rest === halfway && (m & 1) === 1)) m++;
    return sign | m; // m may reach 0x400: the smallest normal, encoded right
  }
  const rest = mantissa & 0x1fff;
  let h = (e << 10) | (mantissa >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry may reach infinity
  return sign | h;
}
