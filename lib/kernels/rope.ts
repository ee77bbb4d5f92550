/**
 * Rotary position embedding (RoPE), as Meta's Llama 3 reference applies it.
 *
 * Each head vector is read as `headDim / 2` pairs `(v[2i], v[2i+1])` (interleaved, like
 * `torch.view_as_complex`), and pair `i` at position `p` is rotated by the angle
 * `p · freq[i]`, with `freq[i] = theta^(-2i / headDim)`. Llama 3.1 and 3.2 stretch the low
 * frequencies for long contexts ({@linkcode ropeFrequencies} with `scaled`).
 *
 * Angles are computed in float64 and their cosines/sines stored as float32 tables, one row per
 * position, so the forward pass only looks them up.
 *
 * @example
 * ```ts
 * import { rope, ropeTable } from "./rope.ts";
 *
 * const table = ropeTable(4, 500000, false, 16); // headDim 4, positions 0..15
 * const q = new Float32Array([1, 0, 1, 0]); // one head
 * rope(q, 0, 1, table, 3); // rotate as at position 3
 * ```
 *
 * @module
 */

/** Llama 3.1's frequency scaling constants (Meta's `apply_scaling`). */
const SCALE_FACTOR = 8;
const LOW_FREQ_FACTOR = 1;
const HIGH_FREQ_FACTOR = 4;
const ORIGINAL_CONTEXT = 8192;

/**
 * The rotation frequency of each pair of a head: `theta^(-2i / headDim)`, optionally with
 * Llama 3.1's scaling (wavelengths longer than 8192 / 1 positions divided by 8, shorter than
 * 8192 / 4 kept, smoothly blended between).
 *
 * @param headDim Size of one head (even).
 * @param theta RoPE base (500000 for Llama 3).
 * @param scaled Apply Llama 3.1 scaling (`use_scaled_rope`).
 * @returns `headDim / 2` frequencies in float64.
 */
export function ropeFrequencies(headDim: number, theta: number, scaled: boolean): Float64Array {
  const freqs = new Float64Array(headDim / 2);
  const lowFreqWavelen = ORIGINAL_CONTEXT / LOW_FREQ_FACTOR;
  const highFreqWavelen = ORIGINAL_CONTEXT / HIGH_FREQ_FACTOR;
  for (let i = 0; i < freqs.length; i++) {
    const freq = 1 / theta ** ((2 * i) / headDim);
    if (!scaled) {
      freqs[i] = freq;
      continue;
    }
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highFreqWavelen) {
      freqs[i] = freq;
    } else if (wavelen > lowFreqWavelen) {
      freqs[i] = freq / SCALE_FACTOR;
    } else {
      const smooth = (ORIGINAL_CONTEXT / wavelen - LOW_FREQ_FACTOR) /
        (HIGH_FREQ_FACTOR - LOW_FREQ_FACTOR);
      freqs[i] = (1 - smooth) * freq / SCALE_FACTOR + smooth * freq;
    }
  }
  return freqs;
}

/** cos/sin of every (position, pair) angle: `[positions, headDim / 2]` float32 each. */
export interface RopeTable {
  /** Size of one head. */
  readonly headDim: number;
  /** Number of positions covered. */
  readonly positions: number;
  /** `cos[p · headDim/2 + i] = cos(p · freq[i])`. */
  readonly cos: Float32Array;
  /** `sin[p · headDim/2 + i] = sin(p · freq[i])`. */
  readonly sin: Float32Array;
}

/**
 * Precomputes the rotation of every pair at every position below `positions`.
 *
 * @param headDim Size of one head (even).
 * @param theta RoPE base.
 * @param scaled Apply Llama 3.1 scaling.
 * @param positions Number of positions (the context length).
 * @returns The tables.
 */
export function ropeTable(
  headDim: number,
  theta: number,
  scaled: boolean,
  positions: number,
): RopeTable {
  const freqs = ropeFrequencies(headDim, theta, scaled);
  const pairs = headDim / 2;
  const cos = new Float32Array(positions * pairs);
  const sin = new Float32Array(positions * pairs);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < pairs; i++) {
      const angle = p * freqs[i];
      cos[p * pairs + i] = Math.cos(angle);
      sin[p * pairs + i] = Math.sin(angle);
    }
  }
  return { headDim, positions, cos, sin };
}

/**
 * Rotates `nHeads` consecutive head vectors in place as at `position`:
 * `(a, b) -> (a·cos − b·sin, a·sin + b·cos)` for each pair `(v[2i], v[2i+1])`.
 *
 * @param v Holds the heads.
 * @param offset Index of head 0, element 0.
 * @param nHeads Number of heads, `headDim` floats each, contiguous.
 * @param table From {@linkcode ropeTable}.
 * @param position The token's position in the sequence.
 */
export function rope(
  v: Float32Array,
  offset: number,
  nHeads: number,
  table: RopeTable,
  position: number,
): void {
  const { headDim, cos, sin } = table;
  const pairs = headDim / 2;
  const row = position * pairs;
  for (let h = 0; h < nHeads; h++) {
    const base = offset + h * headDim;
    for (let i = 0; i < pairs; i++) {
      const c = cos[row + i], s = sin[row + i];
      const a = v[base + 2 * i], b = v[base + 2 * i + 1];
      v[base + 2 * i] = a * c - b * s;
      v[base + 2 * i + 1] = a * s + b * c;
    }
  }
}
