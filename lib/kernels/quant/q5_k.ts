/**
 * ggml's Q5_K: Q4_K's super-block (see `q4_k.ts`) with a fifth bit per weight, so `q` runs
 * from 0 to 31.
 *
 * ```text
 * bytes 0–1      d        float16
 * bytes 2–3      dmin     float16
 * bytes 4–15     scales   8 scales and 8 minimums, 6 bits each
 * bytes 16–47    qh[32]   byte l, bit 2c: fifth bit of weight 64c + l;
 *                         bit 2c + 1: of weight 64c + 32 + l
 * bytes 48–175   qs[128]  low 4 bits, laid out as Q4_K's
 * ```
 *
 * @example
 * ```ts
 * import { Q5_K } from "./q5_k.ts";
 *
 * const x = Float32Array.from({ length: 256 }, (_, i) => Math.cos(i));
 * const bytes = new Uint8Array(176), y = new Float32Array(256);
 * Q5_K.quantize(x, bytes, 0);
 * Q5_K.dequantize(bytes, 0, 1, y, 0); // y ≈ x within about 1/60 of the range
 * ```
 *
 * @module
 */

import { type BlockCodec, readHalf } from "./codec.ts";
import { scaleMin } from "./k_scales.ts";
import { quantizeScalesMins } from "./q4_k.ts";

const QK = 256, BYTES = 176;

/** The Q5_K codec. */
export const Q5_K: BlockCodec = {
  type: "q5_k",
  blockElements: QK,
  blockBytes: BYTES,
  dequantize(bytes, at, blocks, out, outOffset) {
    for (let b = 0; b < blocks; b++, at += BYTES, outOffset += QK) {
      const d = readHalf(bytes, at), dmin = readHalf(bytes, at + 2);
      for (let c = 0; c < 4; c++) {
        const [s0, m0] = scaleMin(bytes, at + 4, 2 * c);
        const [s1, m1] = scaleMin(bytes, at + 4, 2 * c + 1);
        const d0 = Math.fround(d * s0), o0 = Math.fround(dmin * m0);
        const d1 = Math.fround(d * s1), o1 = Math.fround(dmin * m1);
        const o = outOffset + 64 * c, q = at + 48 + 32 * c, h = at + 16;
        for (let l = 0; l < 32; l++) {
          const lo = (bytes[q + l] & 15) | (((bytes[h + l] >> (2 * c)) & 1) << 4);
          const hi = (bytes[q + l] >> 4) | (((bytes[h + l] >> (2 * c + 1)) & 1) << 4);
          out[o + l] = Math.fround(Math.fround(d0 * lo) - o0);
          out[o + 32 + l] = Math.fround(Math.fround(d1 * hi) - o1);
        }
      }
    }
  },
  quantize(x, out, outOffset) {
    const levels = new Uint8Array(QK), weights = new Float32Array(QK);
    for (let i = 0; i < x.length; i += QK, outOffset += BYTES) {
      quantizeScalesMins(x, i, 31, out, outOffset, levels, weights);
      for (let l = 0; l < 32; l++) out[outOffset + 16 + l] = 0;
      for (let c = 0; c < 4; c++) {
        for (let l = 0; l < 32; l++) {
          const lo = levels[64 * c + l], hi = levels[64 * c + 32 + l];
          out[outOffset + 48 + 32 * c + l] = (lo & 15) | ((hi & 15) << 4);
          out[outOffset + 16 + l] |= ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1));
        }
      }
    }
  },
};
