/**
 * llama.cpp's tensor names for Llama (GGUF files) and Meta's, both ways. The engine speaks
 * Meta's names; a GGUF file calls `layers.0.attention.wq.weight` `blk.0.attn_q.weight`.
 *
 * | GGUF                         | Meta                               |
 * | ---------------------------- | ---------------------------------- |
 * | `token_embd.weight`          | `tok_embeddings.weight`            |
 * | `blk.N.attn_{q,k,v}.weight`  | `layers.N.attention.w{q,k,v}.weight` |
 * | `blk.N.attn_output.weight`   | `layers.N.attention.wo.weight`     |
 * | `blk.N.ffn_gate.weight`      | `layers.N.feed_forward.w1.weight`  |
 * | `blk.N.ffn_down.weight`      | `layers.N.feed_forward.w2.weight`  |
 * | `blk.N.ffn_up.weight`        | `layers.N.feed_forward.w3.weight`  |
 * | `blk.N.attn_norm.weight`     | `layers.N.attention_norm.weight`   |
 * | `blk.N.ffn_norm.weight`      | `layers.N.ffn_norm.weight`         |
 * | `output_norm.weight`         | `norm.weight`                      |
 * | `output.weight` (absent when tied) | `output.weight`              |
 *
 * GGUF files also hold `rope_freqs.weight` (Llama 3.1's RoPE scaling as per-frequency
 * divisors), which has no Meta name: Meta computes it from `use_scaled_rope`.
 *
 * @example
 * ```ts
 * import { ggufTensorName, metaTensorNameOfGguf } from "./gguf_tensor_names.ts";
 *
 * ggufTensorName("layers.3.feed_forward.w1.weight"); // "blk.3.ffn_gate.weight"
 * metaTensorNameOfGguf("output_norm.weight"); // "norm.weight"
 * ```
 *
 * @module
 */

/** The tensor holding Llama 3.1's RoPE frequency divisors in a GGUF file. */
export const ROPE_FREQS_TENSOR = "rope_freqs.weight";

/** Per-layer names: GGUF's suffix after `blk.N.` → Meta's after `layers.N.`. */
const LAYER_NAMES: ReadonlyArray<readonly [string, string]> = [
  ["attn_q.weight", "attention.wq.weight"],
  ["attn_k.weight", "attention.wk.weight"],
  ["attn_v.weight", "attention.wv.weight"],
  ["attn_output.weight", "attention.wo.weight"],
  ["ffn_gate.weight", "feed_forward.w1.weight"],
  ["ffn_down.weight", "feed_forward.w2.weight"],
  ["ffn_up.weight", "feed_forward.w3.weight"],
  ["attn_norm.weight", "attention_norm.weight"],
  ["ffn_norm.weight", "ffn_norm.weight"],
];

/** Whole names outside the layers. */
const MODEL_NAMES: ReadonlyArray<readonly [string, string]> = [
  ["token_embd.weight", "tok_embeddings.weight"],
  ["output_norm.weight", "norm.weight"],
  ["output.weight", "output.weight"],
];

const TO_META_LAYER = new Map(LAYER_NAMES);
const TO_GGUF_LAYER = new Map(LAYER_NAMES.map(([g, meta]) => [meta, g]));
const TO_META = new Map(MODEL_NAMES);
const TO_GGUF = new Map(MODEL_NAMES.map(([g, meta]) => [meta, g]));

/**
 * Meta's name of a GGUF Llama tensor.
 *
 * @param name A tensor name in a GGUF file.
 * @returns Meta's name, or `undefined` for a tensor without one (e.g. `rope_freqs.weight`).
 */
export function metaTensorNameOfGguf(name: string): string | undefined {
  const whole = TO_META.get(name);
  if (whole !== undefined) return whole;
  const match = /^blk\.(0|[1-9]\d*)\.(.+)$/.exec(name);
  if (match === null) return undefined;
  const suffix = TO_META_LAYER.get(match[2]);
  return suffix === undefined ? undefined : `layers.${match[1]}.${suffix}`;
}

/**
 * llama.cpp's name of a Meta Llama tensor (for writing GGUF files).
 *
 * @param name Meta's name, e.g. `layers.0.attention.wq.weight`.
 * @returns The GGUF name, e.g. `blk.0.attn_q.weight`.
 * @throws {RangeError} For a name that is not one of Llama's tensors.
 */
export function ggufTensorName(name: string): string {
  const whole = TO_GGUF.get(name);
  if (whole !== undefined) return whole;
  const match = /^layers\.(0|[1-9]\d*)\.(.+)$/.exec(name);
  const suffix = match === null ? undefined : TO_GGUF_LAYER.get(match[2]);
  if (match === null || suffix === undefined) {
    throw new RangeError(`"${name}" is not a Llama tensor name`);
  }
  return `blk.${match[1]}.${suffix}`;
}
