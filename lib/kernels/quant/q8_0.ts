/**
 * ggml's Q8_0: blocks of 32 weights, each `d · q` with one float16 scale `d` and 32 signed bytes.
 *
 * ```text
 * bytes 0–1   d     float16
 * bytes 2–33  q[32] int8, weight j = d · q[j]
 * ```
 *
 * The reference quantizer (ggml's `quantize_row_q8_0_ref`): `d = max |x| / 127`, `q =
 * roundf(x / d)` computed as `x · (1/d)` in float32.
 *
 * @example
 * ```ts
 * import { Q8_0 } from "./q8_0.ts";
 *
 * const bytes = new Uint8Array(34);
 * Q8_0.quantize(new Float32Array(32).fill(1), bytes, 0);
 * const out = new Float32Array(32);
 * Q8_0.dequantize(bytes, 0, 1, out, 0); // all 1
 * ```
 *
 * @module
 */

import { type BlockCodec, readHalf, roundAway, writeHalf } from "./codec.ts";

const QK = 32, BYTES = 34;

/** The Q8_0 codec. */
export const Q8_0: BlockCodec = {
  type: "q8_0",
  blockElements: QK,
  blockBytes: BYTES,
  dequantize(bytes, at, blocks, out, outOffset) {
    for (let b = 0; b < blocks; b++, at += BYTES, outOffset += QK) {
      const d = readHalf(bytes, at);
      for (let j = 0; j < QK; j++) {
        out[outOffset + j] = Math.fround(d * ((bytes[at + 2 + j] << 24) >> 24));
      }
    }
  },
  quantize(x, out, outOffset) {
    for (let i = 0; i < x.length; i += QK, outOffset += BYTES) {
      let amax = 0;
      for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[i + j]));
      const d = Math.fround(amax / 127);
      const id = d !== 0 ? Math.fround(1 / d) : 0;
      writeHalf(out, outOffset, d);
      for (let j = 0; j < QK; j++) out[outOffset + 2 + j] = roundAway(Math.fround(x[i + j] * id));
    }
  },
};
