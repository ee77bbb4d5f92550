/**
 * Hugging Face's tensor names for Llama and Meta's, both ways. The engine speaks Meta's names
 * (`layers.0.attention.wq.weight`); a Hugging Face checkpoint calls the same tensor
 * `model.layers.0.self_attn.q_proj.weight`.
 *
 * | Hugging Face                                   | Meta                            |
 * | ---------------------------------------------- | ------------------------------- |
 * | `model.embed_tokens.weight`                    | `tok_embeddings.weight`         |
 * | `model.layers.N.self_attn.{q,k,v,o}_proj.weight` | `layers.N.attention.w{q,k,v,o}.weight` |
 * | `model.layers.N.mlp.gate_proj.weight`          | `layers.N.feed_forward.w1.weight` |
 * | `model.layers.N.mlp.down_proj.weight`          | `layers.N.feed_forward.w2.weight` |
 * | `model.layers.N.mlp.up_proj.weight`            | `layers.N.feed_forward.w3.weight` |
 * | `model.layers.N.input_layernorm.weight`        | `layers.N.attention_norm.weight` |
 * | `model.layers.N.post_attention_layernorm.weight` | `layers.N.ffn_norm.weight`    |
 * | `model.norm.weight`                            | `norm.weight`                   |
 * | `lm_head.weight` (absent when tied)            | `output.weight`                 |
 *
 * The q/k rows of a Hugging Face checkpoint are also permuted per head (`rotate_half`), which
 * the engine handles with the checkpoint's `ropeLayout: "halves"`, not by renaming.
 *
 * @example
 * ```ts
 * import { hfTensorName, metaTensorName } from "./hf_tensor_names.ts";
 *
 * metaTensorName("model.layers.3.mlp.gate_proj.weight"); // "layers.3.feed_forward.w1.weight"
 * hfTensorName("output.weight"); // "lm_head.weight"
 * ```
 *
 * @module
 */

/** Per-layer names: Hugging Face's suffix after `model.layers.N.` → Meta's after `layers.N.`. */
const LAYER_NAMES: ReadonlyArray<readonly [string, string]> = [
  ["self_attn.q_proj.weight", "attention.wq.weight"],
  ["self_attn.k_proj.weight", "attention.wk.weight"],
  ["self_attn.v_proj.weight", "attention.wv.weight"],
  ["self_attn.o_proj.weight", "attention.wo.weight"],
  ["mlp.gate_proj.weight", "feed_forward.w1.weight"],
  ["mlp.down_proj.weight", "feed_forward.w2.weight"],
  ["mlp.up_proj.weight", "feed_forward.w3.weight"],
  ["input_layernorm.weight", "attention_norm.weight"],
  ["post_attention_layernorm.weight", "ffn_norm.weight"],
];

/** Whole names outside the layers. */
const MODEL_NAMES: ReadonlyArray<readonly [string, string]> = [
  ["model.embed_tokens.weight", "tok_embeddings.weight"],
  ["model.norm.weight", "norm.weight"],
  ["lm_head.weight", "output.weight"],
];

const TO_META_LAYER = new Map(LAYER_NAMES);
const TO_HF_LAYER = new Map(LAYER_NAMES.map(([hf, meta]) => [meta, hf]));
const TO_META = new Map(MODEL_NAMES);
const TO_HF = new Map(MODEL_NAMES.map(([hf, meta]) => [meta, hf]));

/**
 * Meta's name of a Hugging Face Llama tensor.
 *
 * @param name A tensor name in a Hugging Face checkpoint.
 * @returns Meta's name, or `undefined` for a tensor Llama does not use (e.g.
 *   `rotary_emb.inv_freq` of old conversions).
 */
export function metaTensorName(name: string): string | undefined {
  const whole = TO_META.get(name);
  if (whole !== undefined) return whole;
  const match = /^model\.layers\.(0|[1-9]\d*)\.(.+)$/.exec(name);
  if (match === null) return undefined;
  const suffix = TO_META_LAYER.get(match[2]);
  return suffix === undefined ? undefined : `layers.${match[1]}.${suffix}`;
}

/**
 * Hugging Face's name of a Meta Llama tensor (for writing checkpoints).
 *
 * @param name Meta's name, e.g. `layers.0.attention.wq.weight`.
 * @returns The Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
 * @throws {RangeError} For a name that is not one of Llama's tensors.
 */
export function hfTensorName(name: string): string {
  const whole = TO_HF.get(name);
  if (whole !== undefined) return whole;
  const match = /^layers\.(0|[1-9]\d*)\.(.+)$/.exec(name);
  const suffix = match === null ? undefined : TO_HF_LAYER.get(match[2]);
  if (match === null || suffix === undefined) {
    throw new RangeError(`"${name}" is not a Llama tensor name`);
  }
  return `model.layers.${match[1]}.${suffix}`;
}
