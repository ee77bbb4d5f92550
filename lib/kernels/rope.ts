/**
 * Rotary position embedding (RoPE), as Meta's Llama 3 reference applies it.
 *
 * Each head vector is read as `headDim / 2` pairs `(v[2i], v[2i+1])` (interleaved, like
 * `torch.view_as_complex`), and pair `i` at position `p` is rotated by the angle
 * `p · freq[i]`, with `freq[i] = theta^(-2i / headDim)`. Llama 3.1 and 3.2 stretch the low
 * frequencies for long contexts ({@linkcode ropeFrequencies} with `scaled`).
 *
 * Hugging Face's checkpoints permute the query and key rows of each head so that pair `i` is
 * `(v[i], v[i + headDim/2])` instead (`rotate_half`); {@linkcode ropeHalves} rotates those pairs
 * with the same table, so such weights run as they are, with no copy.
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

/**
 * Llama 3.1's frequency scaling (`apply_scaling` in Meta's reference, `rope_scaling` of
 * `rope_type: "llama3"` in Hugging Face's `config.json`): wavelengths longer than
 * `originalContext / lowFreqFactor` positions are stretched by `factor`, those shorter than
 * `originalContext / highFreqFactor` kept, and the ones between blended smoothly.
 */
export interface RopeScaling {
  /** How much the lowest frequencies are divided by. */
  readonly factor: number;
  /** Wavelengths above `originalContext / lowFreqFactor` are fully scaled. */
  readonly lowFreqFactor: number;
  /** Wavelengths below `originalContext / highFreqFactor` are not scaled. */
  readonly highFreqFactor: number;
  /** The context length the model was first trained with. */
  readonly originalContext: number;
}

/** Meta's constants for `use_scaled_rope` (Llama 3.1's `apply_scaling`). */
export const LLAMA31_ROPE_SCALING: RopeScaling = Object.freeze({
  factor: 8,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalContext: 8192,
});

/**
 * The rotation frequency of each pair of a head: `theta^(-2i / headDim)`, optionally with
 * Llama 3.1's scaling ({@linkcode RopeScaling}).
 *
 * @param headDim Size of one head (even).
 * @param theta RoPE base (500000 for Llama 3).
 * @param scaled The scaling's constants; `true` for Meta's ({@linkcode LLAMA31_ROPE_SCALING}),
 *   `false` or `null` for none.
 * @returns `headDim / 2` frequencies in float64.
 */
export function ropeFrequencies(
  headDim: number,
  theta: number,
  scaled: boolean | RopeScaling | null,
): Float64Array {
  const scaling = scaled === true ? LLAMA31_ROPE_SCALING : scaled || null;
  const freqs = new Float64Array(headDim / 2);
  for (let i = 0; i < freqs.length; i++) {
    const freq = 1 / theta ** ((2 * i) / headDim);
    if (scaling === null) {
      freqs[i] = freq;
      continue;
    }
    const { factor, lowFreqFactor, highFreqFactor, originalContext } = scaling;
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < originalContext / highFreqFactor) {
      freqs[i] = freq;
    } else if (wavelen > originalContext / lowFreqFactor) {
      freqs[i] = freq / factor;
    } else {
      const smooth = (originalContext / wavelen - lowFreqFactor) /
        (highFreqFactor - lowFreqFactor);
      freqs[i] = (1 - smooth) * freq / factor + smooth * freq;
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
 * @param scaled The scaling's constants, `true` for Meta's, `false`/`null` for none.
 * @param positions Number of positions (the context length).
 * @returns The tables.
 */
export function ropeTable(
  headDim: number,
  theta: number,
  scaled: boolean | RopeScaling | null,
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

/**
 * {@linkcode rope} for Hugging Face's `rotate_half` layout: pair `i` of each head is
 * `(v[i], v[i + headDim/2])`, rotated by the same angle `p · freq[i]`. On query/key rows
 * permuted as `convert_llama_weights_to_hf.py` permutes them, it gives Meta's result with the
 * elements of each head reordered the same way, so attention scores are unchanged.
 *
 * @param v Holds the heads.
 * @param offset Index of head 0, element 0.
 * @param nHeads Number of heads, `headDim` floats each, contiguous.
 * @param table From {@linkcode ropeTable}.
 * @param position The token's position in the sequence.
 */
export function ropeHalves(
  v: Float32Array,
  offset: number,
  nHeads: number,
  table: RopeTable,
  position: number,
): void {
  const { headDim, cos, sin } = table;
  const half = headDim / 2;
  const row = position * half;
  for (let h = 0; h < nHeads; h++) {
    const base = offset + h * headDim;
    for (let i = 0; i < half; i++) {
      const c = cos[row + i], s = sin[row + i];
      const a = v[base + i], b = v[base + half + i];
      v[base + i] = a * c - b * s;
      v[base + half + i] = a * s + b * c;
    }
  }
}
