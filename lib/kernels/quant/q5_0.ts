/**
 * ggml's Q5_0: blocks of 32 weights, each `d · (q − 16)` with one float16 scale `d` and 5-bit
 * `q` from 0 to 31: the low 4 bits as in Q4_0, the fifth bits packed in one 32-bit word.
 *
 * ```text
 * bytes 0–1   d       float16
 * bytes 2–5   qh      uint32 little-endian: bit j is bit 4 of element j's q
 * bytes 6–21  qs[16]  low nibbles: elements 0–15, high nibbles: elements 16–31
 * ```
 *
 * The reference quantizer (ggml's `quantize_row_q5_0_ref`): `d = m / −16` with `m` the entry
 * of largest magnitude, `q = min(31, trunc(x / d + 16.5))`, in float32.
 *
 * @example
 * ```ts
 * import { Q5_0 } from "./q5_0.ts";
 *
 * const bytes = new Uint8Array(22), out = new Float32Array(32);
 * Q5_0.quantize(new Float32Array(32).fill(2), bytes, 0);
 * Q5_0.dequantize(bytes, 0, 1, out, 0); // all 2
 * ```
 *
 * @module
 */

import { type BlockCodec, readHalf, signedMax, writeHalf } from "./codec.ts";

const QK = 32, BYTES = 22;

/** The Q5_0 codec. */
export const Q5_0: BlockCodec = {
  type: "q5_0",
  blockElements: QK,
  blockBytes: BYTES,
  dequantize(bytes, at, blocks, out, outOffset) {
    for (let b = 0; b < blocks; b++, at += BYTES, outOffset += QK) {
      const d = readHalf(bytes, at);
      const qh = bytes[at + 2] | (bytes[at + 3] << 8) | (bytes[at + 4] << 16) |
        (bytes[at + 5] << 24);
      for (let j = 0; j < 16; j++) {
        const q = bytes[at + 6 + j];
        const lo = (q & 15) | (((qh >>> j) & 1) << 4);
        const hi = (q >> 4) | (((qh >>> (j + 16)) & 1) << 4);
        out[outOffset + j] = Math.fround(d * (lo - 16));
        out[outOffset + j + 16] = Math.fround(d * (hi - 16));
      }
    }
  },
  quantize(x, out, outOffset) {
    for (let i = 0; i < x.length; i += QK, outOffset += BYTES) {
      const d = Math.fround(signedMax(x, i, i + QK) / -16);
      const id = d !== 0 ? Math.fround(1 / d) : 0;
      writeHalf(out, outOffset, d);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(31, Math.trunc(Math.fround(Math.fround(x[i + j] * id) + 16.5)));
        const hi = Math.min(31, Math.trunc(Math.fround(Math.fround(x[i + j + 16] * id) + 16.5)));
        out[outOffset + 6 + j] = (lo & 15) | ((hi & 15) << 4);
        qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16));
      }
      out[outOffset + 2] = qh & 0xff;
      out[outOffset + 3] = (qh >>> 8) & 0xff;
      out[outOffset + 4] = (qh >>> 16) & 0xff;
      out[outOffset + 5] = qh >>> 24;
    }
  },
};
