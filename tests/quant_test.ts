/**
 * ggml's block types against an independent reference: `tools/make_quant_fixtures.py` decodes
 * random blocks with a decoder written from ggml's definitions (numpy, float32) and quantizes
 * random floats as ggml's `quantize_row_*_ref` does; our decoders must give the same bits, our
 * round-to-nearest quantizers the same bytes. A decoder with the wrong nibble order must fail
 * the same comparison (the negative control). The K-quant quantizers (our own search) are held
 * to error bounds, and the TypeScript matrix kernel to float64 dot products of the reference
 * floats.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BLOCK_CODECS, dequantizeBlocks, quantizeMatrix } from "../lib/kernels/quant/codecs.ts";
import { blockMatrixView, multiplyBlocks } from "../lib/kernels/quant/matmul.ts";
import { type BlockStorageType, STORAGE, storageBytes } from "../lib/tensor/storage.ts";

const DIR = new URL("./fixtures/quant/", import.meta.url);
const TYPES: BlockStorageType[] = ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];

function fixture(name: string): { blocks: Uint8Array; floats: Float32Array } {
  const blocks = Deno.readFileSync(new URL(`${name}.blocks`, DIR));
  const raw = Deno.readFileSync(new URL(`${name}.f32`, DIR));
  return { blocks, floats: new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) };
}

/** Index of the first element whose bits differ, or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** A deterministic stream in [-1, 1). */
function randoms(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1;
}

for (const type of TYPES) {
  Deno.test(`${type}: decodes ggml's layout bit for bit as the independent reference`, () => {
    const { blocks, floats } = fixture(type);
    assert.equal(blocks.length % STORAGE[type].blockBytes, 0);
    const ours = dequantizeBlocks(type, blocks);
    assert.equal(firstDifference(ours, floats), -1);
  });
}

Deno.test("negative control: a decoder with the wrong nibble order fails the comparison", () => {
  for (const type of ["q4_0", "q4_k"] as const) {
    const { blocks, floats } = fixture(type);
    const ours = dequantizeBlocks(type, blocks);
    // The classic mistake: nibbles read as consecutive elements (low = 2j, high = 2j + 1)
    // instead of low = first half, high = second half of each 32 weights.
    const wrong = new Float32Array(ours.length);
    for (let b = 0; b < ours.length; b += 32) {
      for (let j = 0; j < 16; j++) {
        wrong[b + 2 * j] = ours[b + j];
        wrong[b + 2 * j + 1] = ours[b + 16 + j];
      }
    }
    assert.notEqual(firstDifference(wrong, floats), -1, type);
    // And the same mistake in the blocks themselves: nibbles swapped within each byte.
    const swapped = blocks.slice();
    const codec = BLOCK_CODECS[type];
    const qs = type === "q4_0" ? [2, 18] : [16, 144];
    for (let at = 0; at < swapped.length; at += codec.blockBytes) {
      for (let k = at + qs[0]; k < at + qs[1]; k++) {
        swapped[k] = ((swapped[k] & 15) << 4) | (swapped[k] >> 4);
      }
    }
    assert.notEqual(firstDifference(dequantizeBlocks(type, swapped), floats), -1, type);
  }
});

for (const type of ["q8_0", "q4_0", "q5_0"] as const) {
  Deno.test(`${type}: quantizes as ggml's reference round-to-nearest, byte for byte`, () => {
    const { blocks, floats } = fixture(`${type}_quantize`);
    const ours = quantizeMatrix(type, floats);
    const at = ours.findIndex((b, i) => b !== blocks[i]);
    assert.equal(at, -1, `first difference in block ${Math.floor(at / STORAGE[type].blockBytes)}`);
  });
}

/** RMS error of `quantize → dequantize` over RMS of `x`, for Gaussian-like rows. */
function roundTripError(type: BlockStorageType, x: Float32Array): number {
  const y = dequantizeBlocks(type, quantizeMatrix(type, x));
  let e = 0, s = 0;
  for (let i = 0; i < x.length; i++) {
    e += (y[i] - x[i]) ** 2;
    s += x[i] ** 2;
  }
  return Math.sqrt(e / s);
}

Deno.test("every quantizer's round trip error is what its bits allow", () => {
  const next = randoms(7);
  const x = new Float32Array(256 * 64);
  // Sums of uniforms: near-Gaussian, plus a few outliers as trained weights have.
  for (let i = 0; i < x.length; i++) x[i] = 0.02 * (next() + next() + next());
  for (let i = 0; i < x.length; i += 997) x[i] *= 8;
  // Bounds: ≈ the step of each type's grid over a Gaussian (measured with margin): 4-bit
  // types ≈ 1/10, 5-bit ≈ 1/20, 6-bit ≈ 1/40, 8-bit ≈ 1/200.
  const bounds: Record<BlockStorageType, number> = {
    q8_0: 0.008,
    q4_0: 0.12,
    q5_0: 0.06,
    q4_k: 0.1,
    q5_k: 0.05,
    q6_k: 0.025,
  };
  const errors = Object.fromEntries(TYPES.map((t) => [t, roundTripError(t, x)]));
  for (const t of TYPES) assert.ok(errors[t] < bounds[t], `${t}: ${errors[t]}`);
  // The K-quants' fitted scales beat the plain round-to-nearest types of the same bits.
  assert.ok(errors.q4_k < errors.q4_0, JSON.stringify(errors));
  assert.ok(errors.q5_k < errors.q5_0, JSON.stringify(errors));
});

Deno.test("K-quants: an all-zero super-block, and one of equal values, round trip exactly", () => {
  for (const type of ["q4_k", "q5_k", "q6_k"] as const) {
    const zero = new Float32Array(256);
    assert.deepEqual(dequantizeBlocks(type, quantizeMatrix(type, zero)), zero, type);
  }
  for (const type of ["q4_k", "q5_k"] as const) {
    const negative = new Float32Array(256).fill(-0.25);
    const y = dequantizeBlocks(type, quantizeMatrix(type, negative));
    for (const v of y) assert.ok(Math.abs(v + 0.25) < 1e-3, `${type}: ${v}`);
  }
});

for (const type of TYPES) {
  Deno.test(`${type}: the TypeScript matrix kernel gives float64 dot products of the reference`, () => {
    const { blocks, floats } = fixture(type);
    const cols = type.endsWith("_k") ? 512 : 256, rows = floats.length / cols;
    assert.equal(blocks.length, rows * storageBytes(type, cols));
    const m = blockMatrixView(type, blocks.buffer, blocks.byteOffset, rows, cols);
    const tokens = 3, next = randoms(3);
    const x = Float32Array.from({ length: tokens * cols }, next);
    const out = new Float32Array(tokens * rows);
    multiplyBlocks(m, x, out, rows, tokens, 0, rows, new Float32Array(cols));
    for (let t = 0; t < tokens; t++) {
      for (let r = 0; r < rows; r++) {
        let s = 0, scale = 0;
        for (let j = 0; j < cols; j++) {
          s += floats[r * cols + j] * x[t * cols + j];
          scale += Math.abs(floats[r * cols + j] * x[t * cols + j]);
        }
        assert.ok(Math.abs(out[t * rows + r] - s) <= 1e-6 * scale, `${type} t=${t} r=${r}`);
      }
    }
  });
}
