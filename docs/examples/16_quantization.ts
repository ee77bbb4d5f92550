/**
 * Chapter 16's worked examples: one Q4_0 block taken apart byte by byte, and the error every
 * storage type adds to weights shaped like a real model's, measured on the weights themselves
 * and on the dot products a matrix × vector computes from them.
 *
 * ```sh
 * deno run docs/examples/16_quantization.ts
 * ```
 *
 * @module
 */

import { Xoshiro128StarStar } from "../../lib/generate/random.ts";
import { readHalf } from "../../lib/kernels/quant/codec.ts";
import { dequantizeBlocks, quantizeMatrix } from "../../lib/kernels/quant/codecs.ts";
import { bitsPerWeight, type StorageType } from "../../lib/tensor/storage.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");

// 1. One Q4_0 block: 32 weights -> a float16 scale d and 32 four-bit codes q, weight = d·(q − 8).
const block = Float32Array.from({ length: 32 }, (_, j) => Math.fround(0.05 * Math.sin(j + 1)));
const bytes = quantizeMatrix("q4_0", block);
const d = readHalf(bytes, 0);
console.log("Q4_0 block of 32 weights, 18 bytes:");
console.log(`  bytes 0-1   d = ${hex(bytes.subarray(0, 2))} (float16, little-endian) = ${d}`);
console.log(`  bytes 2-17  ${hex(bytes.subarray(2))}`);
const b0 = bytes[2];
console.log(
  `  byte 2 = 0x${b0.toString(16)}: low nibble ${b0 & 15} -> weight 0 = d·(${b0 & 15} − 8) = ` +
    `${(d * ((b0 & 15) - 8)).toFixed(5)} (was ${block[0].toFixed(5)}); high nibble ${b0 >> 4} ` +
    `-> weight 16 = ${(d * ((b0 >> 4) - 8)).toFixed(5)} (was ${block[16].toFixed(5)})`,
);

// 2. Error of each type on a 128 × 4096 matrix drawn like the synthetic models' weights
// (normal, standard deviation 1/√4096), and on its matrix × vector with a normal input.
const ROWS = 128, COLS = 4096;
const rng = Xoshiro128StarStar.fromSeed(16);
const normal = () => {
  const u = 1 - rng.nextFloat(), v = rng.nextFloat();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v); // Box–Muller
};
const w = Float32Array.from({ length: ROWS * COLS }, () => normal() / Math.sqrt(COLS));
const x = Float32Array.from({ length: COLS }, normal);

/** float32 -> bfloat16 -> float32, rounding to nearest even (as llama-bolts' writers do). */
function bf16Round(v: Float32Array): Float32Array {
  const bits = new Uint32Array(v.slice().buffer);
  for (let i = 0; i < bits.length; i++) {
    bits[i] = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16) << 16;
  }
  return new Float32Array(bits.buffer);
}

function decoded(type: StorageType): Float32Array {
  if (type === "f32") return w;
  if (type === "bf16") return bf16Round(w);
  if (type === "f16") return w.map((v) => Math.f16round(v));
  return dequantizeBlocks(type, quantizeMatrix(type, w));
}

function matVec(m: Float32Array): Float64Array {
  const out = new Float64Array(ROWS);
  for (let r = 0; r < ROWS; r++) {
    let s = 0;
    for (let c = 0; c < COLS; c++) s += m[r * COLS + c] * x[c];
    out[r] = s;
  }
  return out;
}

/** Root mean square of a − b over the root mean square of a. */
function relativeRms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    e += (a[i] - b[i]) ** 2;
    s += a[i] ** 2;
  }
  return Math.sqrt(e / s);
}

const exact = matVec(w);
const WEIGHTS_8B = 7.505e9; // read per token (chapter 13)
console.log(
  "\ntype   bits/weight  weight error  matvec error  8B bytes/token  decode limit at 18.9 GB/s",
);
for (
  const type of ["f32", "bf16", "f16", "q8_0", "q6_k", "q5_k", "q5_0", "q4_k", "q4_0"] as const
) {
  const y = decoded(type);
  const bits = bitsPerWeight(type);
  const gb = (WEIGHTS_8B * bits) / 8 / 1e9;
  console.log(
    `${type.padEnd(6)} ${bits.toFixed(2).padStart(11)}  ${
      (100 * relativeRms(w, y)).toFixed(3).padStart(11)
    }%` +
      `  ${(100 * relativeRms(exact, matVec(y))).toFixed(3).padStart(11)}%  ${
        gb.toFixed(2).padStart(11)
      } GB` +
      `  ${(18.9 / gb).toFixed(2).padStart(9)} tok/s`,
  );
}
