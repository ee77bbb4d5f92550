/**
 * ggml's Q4_K: super-blocks of 256 weights in 8 sub-blocks of 32; sub-block `j`'s weights are
 * `d · sc[j] · q − dmin · m[j]`, with 4-bit `q`, 6-bit `sc` and `m` (see `k_scales.ts`) and
 * float16 `d`, `dmin`.
 *
 * ```text
 * bytes 0–1     d        float16
 * bytes 2–3     dmin     float16
 * bytes 4–15    scales   8 scales and 8 minimums, 6 bits each
 * bytes 16–143  qs[128]  4 chunks of 64 weights, 32 bytes each: in chunk c, byte l holds
 *                        weight 64c + l (low nibble, sub-block 2c) and 64c + 32 + l (high
 *                        nibble, sub-block 2c + 1)
 * ```
 *
 * The quantizer fits each sub-block's scale and minimum (`fitScaleMin`), quantizes those to 6
 * bits against the largest of each, then rounds every weight against the scales as stored.
 *
 * @example
 * ```ts
 * import { Q4_K } from "./q4_k.ts";
 *
 * const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
 * const bytes = new Uint8Array(144), y = new Float32Array(256);
 * Q4_K.quantize(x, bytes, 0);
 * Q4_K.dequantize(bytes, 0, 1, y, 0); // y ≈ x within about 1/30 of the range
 * ```
 *
 * @module
 */

import { type BlockCodec, nearestInt, readHalf, writeHalf } from "./codec.ts";
import { errorWeights, fitScaleMin, packScalesMins, scaleMin } from "./k_scales.ts";

const QK = 256, BYTES = 144;

/** Scratch of the quantizer: each sub-block's fitted scale and min, then their 6-bit forms. */
const FITS = new Float64Array(16), SCALES = new Uint8Array(8), MINS = new Uint8Array(8);

/** Fills `levels[0 .. 256)` and writes d, dmin and the scales of one Q4_K or Q5_K block. */
export function quantizeScalesMins(
  x: Float32Array,
  i: number,
  nmax: number,
  out: Uint8Array,
  at: number,
  levels: Uint8Array,
  weights: Float32Array,
): void {
  errorWeights(x, i, QK, weights);
  const fits = FITS;
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    fitScaleMin(x, i + 32 * j, 32, nmax, weights, i, fits, 2 * j);
    maxScale = Math.max(maxScale, fits[2 * j]);
    maxMin = Math.max(maxMin, fits[2 * j + 1]);
  }
  const d = writeHalf(out, at, maxScale / 63);
  const dmin = writeHalf(out, at + 2, maxMin / 63);
  const sc = SCALES, m = MINS;
  for (let j = 0; j < 8; j++) {
    sc[j] = d > 0 ? Math.min(63, nearestInt(fits[2 * j] / d)) : 0;
    m[j] = dmin > 0 ? Math.min(63, nearestInt(fits[2 * j + 1] / dmin)) : 0;
  }
  packScalesMins(out, at + 4, sc, m);
  for (let j = 0; j < 8; j++) {
    const step = d * sc[j], offset = dmin * m[j];
    for (let l = 0; l < 32; l++) {
      const k = 32 * j + l;
      levels[k] = step > 0
        ? Math.max(0, Math.min(nmax, nearestInt((x[i + k] + offset) / step)))
        : 0;
    }
  }
}

/** The Q4_K codec. */
export const Q4_K: BlockCodec = {
  type: "q4_k",
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
        const o = outOffset + 64 * c, q = at + 16 + 32 * c;
        for (let l = 0; l < 32; l++) {
          out[o + l] = Math.fround(Math.fround(d0 * (bytes[q + l] & 15)) - o0);
          out[o + 32 + l] = Math.fround(Math.fround(d1 * (bytes[q + l] >> 4)) - o1);
        }
      }
    }
  },
  quantize(x, out, outOffset) {
    const levels = new Uint8Array(QK), weights = new Float32Array(QK);
    for (let i = 0; i < x.length; i += QK, outOffset += BYTES) {
      quantizeScalesMins(x, i, 15, out, outOffset, levels, weights);
      for (let c = 0; c < 4; c++) {
        for (let l = 0; l < 32; l++) {
          out[outOffset + 16 + 32 * c + l] = levels[64 * c + l] | (levels[64 * c + 32 + l] << 4);
        }
      }
    }
  },
};
