/**
 * Chapter 5's worked example: the bits of float32, bfloat16 and float16, and what converting
 * float32 to bfloat16 by truncation (dropping the low 16 bits, as the seed does) costs against
 * rounding to nearest even: per value, in a dot product the size of an 8B row, and through 32
 * layers of a residual stream stored in bf16.
 *
 * ```sh
 * deno run --allow-read --allow-env --allow-ffi docs/examples/05_bf16_rounding.ts
 * ```
 *
 * @module
 */

import { bf16ToF32 } from "../../lib/kernels/bf16.ts";
import { f16ToF32 } from "../../lib/kernels/f16.ts";
import { Xoshiro128StarStar } from "../../lib/generate/random.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const f16 = new Float16Array(1);
const u16 = new Uint16Array(f16.buffer);

/** float32 bit pattern of `x` (after rounding `x` to float32). */
function bits32(x: number): number {
  f32[0] = x;
  return u32[0];
}
/** float32 → bf16 by dropping the low 16 bits (the seed's conversion). */
function truncateBf16(x: number): number {
  return bits32(x) >>> 16;
}
/** float32 → bf16 rounded to nearest, ties to even (what torch does; finite values). */
function roundBf16(x: number): number {
  const b = bits32(x);
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}
/** float32 → f16 bit pattern, rounded to nearest even (the engine's Float16Array). */
function f16Bits(x: number): number {
  f16[0] = x;
  return u16[0];
}
const bin = (n: number, width: number) => n.toString(2).padStart(width, "0");
const split32 = (b: number) =>
  `${bin(b >>> 31, 1)} ${bin((b >>> 23) & 0xff, 8)} ${bin(b & 0x7fffff, 23)}`;
const split16b = (b: number) =>
  `${bin(b >>> 15, 1)} ${bin((b >>> 7) & 0xff, 8)} ${bin(b & 0x7f, 7)}`;
const split16h = (b: number) =>
  `${bin(b >>> 15, 1)} ${bin((b >>> 10) & 0x1f, 5)} ${bin(b & 0x3ff, 10)}`;

console.log("bit layouts (sign exponent mantissa):");
for (const x of [1, -2.5, Math.PI, 1e-5, 70000]) {
  const t = truncateBf16(x), r = roundBf16(x), h = f16Bits(x);
  console.log(`  ${String(x).padEnd(17)} f32  ${split32(bits32(x))}`);
  console.log(
    `  ${"".padEnd(17)} bf16 ${split16b(r)}  = ${bf16ToF32(r)} rounded, ${bf16ToF32(t)} truncated`,
  );
  console.log(`  ${"".padEnd(17)} f16  ${split16h(h)}  = ${f16ToF32(h)}`);
}

// Standard normal draws (Box-Muller on a seeded generator): weights and activations look so.
const random = Xoshiro128StarStar.fromSeed(42);
const uniform = () => (random.nextUint32() + 0.5) / 2 ** 32;
function normal(): number {
  return Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

// 1. One conversion: relative error and its mean (the bias) over a million values.
const n = 1_000_000;
let truncSum = 0, truncMax = 0, roundSum = 0, roundMax = 0, truncSigned = 0, roundSigned = 0;
for (let i = 0; i < n; i++) {
  const x = Math.fround(normal());
  const et = (bf16ToF32(truncateBf16(x)) - x) / Math.abs(x);
  const er = (bf16ToF32(roundBf16(x)) - x) / Math.abs(x);
  truncSum += Math.abs(et), roundSum += Math.abs(er);
  truncSigned += et * Math.sign(x), roundSigned += er * Math.sign(x);
  truncMax = Math.max(truncMax, Math.abs(et)), roundMax = Math.max(roundMax, Math.abs(er));
}
const pct = (v: number) => `${(100 * v).toFixed(3)}%`;
console.log(`\none conversion, ${n.toLocaleString("en")} normal values:`);
console.log(
  `  truncation: mean |error| ${pct(truncSum / n)}, max ${pct(truncMax)}, mean toward zero ${
    pct(-truncSigned / n)
  }`,
);
console.log(
  `  rounding:   mean |error| ${pct(roundSum / n)}, max ${pct(roundMax)}, mean toward zero ${
    pct(-roundSigned / n)
  }`,
);

// 2. A dot product of 4096 (one row of the 8B's wq) with the input vector stored in bf16.
function dotError(convert: (x: number) => number, trials: number): number {
  let sum = 0;
  for (let t = 0; t < trials; t++) {
    let exact = 0, approx = 0, scale = 0;
    for (let i = 0; i < 4096; i++) {
      const w = normal() / 64, x = Math.fround(normal());
      exact += w * x, approx += w * bf16ToF32(convert(x)), scale += Math.abs(w * x);
    }
    sum += Math.abs(approx - exact) / scale;
  }
  return sum / trials;
}
console.log("\ndot product of 4096, input stored in bf16 (error relative to Σ|w·x|, mean of 200):");
console.log(
  `  truncation ${pct(dotError(truncateBf16, 200))}, rounding ${pct(dotError(roundBf16, 200))}`,
);

// 3. A residual stream kept in bf16 through 32 layers: x = bf16(x + small update) each layer.
function streamDrift(convert: (x: number) => number): { error: number; shrink: number } {
  const dim = 4096;
  const exact = new Float64Array(dim), stored = new Float32Array(dim);
  for (let i = 0; i < dim; i++) exact[i] = stored[i] = bf16ToF32(roundBf16(normal()));
  for (let layer = 0; layer < 32; layer++) {
    for (let i = 0; i < dim; i++) {
      const update = 0.05 * normal();
      exact[i] += update;
      stored[i] = bf16ToF32(convert(stored[i] + update));
    }
  }
  let err = 0, norm = 0, normStored = 0;
  for (let i = 0; i < dim; i++) {
    err += (stored[i] - exact[i]) ** 2, norm += exact[i] ** 2, normStored += stored[i] ** 2;
  }
  return { error: Math.sqrt(err / norm), shrink: 1 - Math.sqrt(normStored / norm) };
}
console.log("\nresidual stream of 4096 in bf16 through 32 layers of small updates:");
for (const [name, convert] of [["truncation", truncateBf16], ["rounding", roundBf16]] as const) {
  const { error, shrink } = streamDrift(convert);
  console.log(`  ${name.padEnd(10)} relative error ${pct(error)}, length shrunk by ${pct(shrink)}`);
}
