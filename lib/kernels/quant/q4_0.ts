/**
 * ggml's Q4_0: blocks of 32 weights, each `d · (q − 8)` with one float16 scale `d` and 4-bit
 * `q` from 0 to 15.
 *
 * ```text
 * bytes 0–1   d       float16
 * bytes 2–17  qs[16]  weight j      = d · ((qs[j] & 15) − 8)   (low nibbles: elements 0–15)
 *                     weight j + 16 = d · ((qs[j] >> 4) − 8)   (high nibbles: elements 16–31)
 * ```
 *
 * The reference quantizer (ggml's `quantize_row_q4_0_ref`): `d = m / −8` where `m` is the
 * entry of largest magnitude with its sign (so `m` itself becomes `q = 0`), and `q = min(15,
 * trunc(x / d + 8.5))`, in float32.
 *
 * @example
 * ```ts
 * import { Q4_0 } from "./q4_0.ts";
 *
 * const bytes = new Uint8Array(18);
 * Q4_0.quantize(new Float32Array(32).fill(-1), bytes, 0);
 * bytes[2]; // 0: both nibbles of element 0 and 16 are q = 0, i.e. −8 · d with d = 1/8
 * ```
 *
 * @module
 */

import { type BlockCodec, readHalf, signedMax, writeHalf } from "./codec.ts";

const QK = 32, BYTES = 18;

/** The Q4_0 codec. */
export const Q4_0: BlockCodec = {
  type: "q4_0",
  blockElements: QK,
  blockBytes: BYTES,
  dequantize(bytes, at, blocks, out, outOffset) {
    for (let b = 0; b < blocks; b++, at += BYTES, outOffset += QK) {
      const d = readHalf(bytes, at);
      for (let j = 0; j < 16; j++) {
        const q = bytes[at + 2 + j];
        out[outOffset + j] = Math.fround(d * ((q & 15) - 8));
        out[outOffset + j + 16] = Math.fround(d * ((q >> 4) - 8));
      }
    }
  },
  quantize(x, out, outOffset) {
    for (let i = 0; i < x.length; i += QK, outOffset += BYTES) {
      const d = Math.fround(signedMax(x, i, i + QK) / -8);
      const id = d !== 0 ? Math.fround(1 / d) : 0;
      writeHalf(out, outOffset, d);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.trunc(Math.fround(Math.fround(x[i + j] * id) + 8.5)));
        const hi = Math.min(15, Math.trunc(Math.fround(Math.fround(x[i + j + 16] * id) + 8.5)));
        out[outOffset + 2 + j] = lo | (hi << 4);
      }
    }
  },
};
