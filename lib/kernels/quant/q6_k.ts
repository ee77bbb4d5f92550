/**
 * ggml's Q6_K: super-blocks of 256 weights in 16 sub-blocks of 16; weight `e` is `d · sc[e /
 * 16] · (q − 32)` with 6-bit `q`, signed 8-bit `sc` and one float16 `d`.
 *
 * ```text
 * bytes 0–127    ql[128]   low 4 bits: 2 chunks of 128 weights, 64 bytes each; in chunk c,
 *                          byte l (l < 32) holds weight 128c + l (low nibble) and 128c + 64 + l
 *                          (high nibble), byte 32 + l weights 128c + 32 + l and 128c + 96 + l
 * bytes 128–191  qh[64]    top 2 bits: in chunk c, byte l holds those of weights 128c + l,
 *                          + 32 + l, + 64 + l, + 96 + l at bits 0, 2, 4, 6
 * bytes 192–207  scales    16 int8
 * bytes 208–209  d         float16
 * ```
 *
 * The quantizer fits each sub-block's scale around `m / −32` (`m` its entry of largest
 * magnitude, with its sign), quantizes the 16 scales to int8 against the largest, then rounds
 * every weight against the scales as stored.
 *
 * @example
 * ```ts
 * import { Q6_K } from "./q6_k.ts";
 *
 * const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(3 * i));
 * const bytes = new Uint8Array(210), y = new Float32Array(256);
 * Q6_K.quantize(x, bytes, 0);
 * Q6_K.dequantize(bytes, 0, 1, y, 0); // y ≈ x within about 1/120 of the range
 * ```
 *
 * @module
 */

import { type BlockCodec, nearestInt, readHalf, signedMax, writeHalf } from "./codec.ts";

const QK = 256, BYTES = 210;

/** `fitScale`'s scratch. */
const VALUES = new Float64Array(16), SQUARES = new Float64Array(16);

/**
 * The scale `s` of `x[start .. start + 16)` ≈ `s · l`, `l` in [−32, 31], minimizing the
 * error weighted by `x²`: tries 10 scales around `m / −32` and solves the least squares for
 * each rounding (19 candidates measured no better, at half the speed).
 */
function fitScale(x: Float32Array, start: number): number {
  const m = signedMax(x, start, start + 16);
  if (m === 0) return 0;
  // The sub-block and its squares in float64 scratch, read 10 times below.
  const values = VALUES, squares = SQUARES;
  for (let k = 0; k < 16; k++) {
    values[k] = x[start + k];
    squares[k] = values[k] * values[k];
  }
  let best = -1, bestScale = m / -32;
  for (let step = -9; step <= 9; step += 2) {
    const inverse = -(32 + 0.1 * step) / m;
    let slx = 0, sll = 0;
    for (let k = 0; k < 16; k++) {
      let l = Math.floor(inverse * values[k] + 0.5);
      l = l < -32 ? -32 : l > 31 ? 31 : l;
      const wl = squares[k] * l;
      slx += wl * values[k];
      sll += wl * l;
    }
    // The error is Σw·x² − slx²/sll at the best scale slx/sll: the largest slx²/sll wins.
    if (sll > 0 && slx * slx / sll > best) {
      best = slx * slx / sll;
      bestScale = slx / sll;
    }
  }
  return bestScale;
}

/** A byte as a signed 8-bit integer. */
function i8(byte: number): number {
  return (byte << 24) >> 24;
}

/** The Q6_K codec. */
export const Q6_K: BlockCodec = {
  type: "q6_k",
  blockElements: QK,
  blockBytes: BYTES,
  dequantize(bytes, at, blocks, out, outOffset) {
    for (let b = 0; b < blocks; b++, at += BYTES, outOffset += QK) {
      const d = readHalf(bytes, at + 208);
      for (let c = 0; c < 2; c++) {
        const ql = at + 64 * c, qh = at + 128 + 32 * c, o = outOffset + 128 * c;
        for (let l = 0; l < 32; l++) {
          const h = bytes[qh + l], lo = bytes[ql + l], hi = bytes[ql + 32 + l];
          const sc = at + 192 + 8 * c + (l >> 4); // sub-block of weight 128c + 32k + l, k = 0
          out[o + l] = Math.fround(d * i8(bytes[sc])) * (((lo & 15) | ((h & 3) << 4)) - 32);
          out[o + 32 + l] = Math.fround(d * i8(bytes[sc + 2])) *
            (((hi & 15) | (((h >> 2) & 3) << 4)) - 32);
          out[o + 64 + l] = Math.fround(d * i8(bytes[sc + 4])) *
            (((lo >> 4) | (((h >> 4) & 3) << 4)) - 32);
          out[o + 96 + l] = Math.fround(d * i8(bytes[sc + 6])) *
            (((hi >> 4) | (((h >> 6) & 3) << 4)) - 32);
        }
      }
    }
  },
  quantize(x, out, outOffset) {
    const scales = new Float64Array(16), levels = new Uint8Array(QK);
    for (let i = 0; i < x.length; i += QK, outOffset += BYTES) {
      let maxScale = 0;
      for (let j = 0; j < 16; j++) {
        scales[j] = fitScale(x, i + 16 * j);
        if (Math.abs(scales[j]) > Math.abs(maxScale)) maxScale = scales[j];
      }
      const inverse = maxScale !== 0 ? -128 / maxScale : 0;
      const d = writeHalf(out, outOffset + 208, maxScale !== 0 ? 1 / inverse : 0);
      for (let j = 0; j < 16; j++) {
        const sc = Math.max(-128, Math.min(127, nearestInt(inverse * scales[j])));
        out[outOffset + 192 + j] = sc & 0xff;
        const step = d * sc;
        for (let l = 0; l < 16; l++) {
          const k = 16 * j + l;
          levels[k] = step !== 0
            ? Math.max(-32, Math.min(31, nearestInt(x[i + k] / step))) + 32
            : 32;
        }
      }
      for (let c = 0; c < 2; c++) {
        const ql = outOffset + 64 * c, qh = outOffset + 128 + 32 * c, e = 128 * c;
        for (let l = 0; l < 32; l++) {
          const q0 = levels[e + l], q1 = levels[e + 32 + l];
          const q2 = levels[e + 64 + l], q3 = levels[e + 96 + l];
          out[ql + l] = (q0 & 15) | ((q2 & 15) << 4);
          out[ql + 32 + l] = (q1 & 15) | ((q3 & 15) << 4);
          out[qh + l] = (q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6);
        }
      }
    }
  },
};
