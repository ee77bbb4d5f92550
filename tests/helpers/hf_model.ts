/**
 * Hugging Face model folders for CLI tests, made from Meta folders: the same weights with
 * Hugging Face's names, `q_proj`/`k_proj` rows permuted for `rotate_half` as transformers'
 * `convert_llama_weights_to_hf.py` does it, in one `model.safetensors` or in shards with an
 * index, beside `config.json`, `generation_config.json` and the real Llama 3 `tokenizer.json`.
 * The permutation itself is checked against PyTorch by the golden fixtures
 * (`tests/hf_golden_test.ts`); here it lets the CLI tests compare a Hugging Face folder with
 * the Meta folder it came from.
 *
 * @example
 * ```ts
 * import { hfFolderFromMeta } from "./helpers/hf_model.ts";
 *
 * const dir = await hfFolderFromMeta("/tmp/llama-tiny", "/tmp/llama-tiny-hf", { shards: 2 });
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { encodeSafetensors, type SafetensorsEntry } from "../../lib/formats/safetensors_writer.ts";
import { loadCheckpoint } from "../../lib/model/checkpoint.ts";
import { hfTensorName } from "../../lib/model/hf_tensor_names.ts";
import { STORAGE } from "../../lib/tensor/storage.ts";
import { ensureLlama3TokenizerJson } from "../../tools/derive_tokenizer.ts";

const DTYPES = { bf16: "BF16", f16: "F16", f32: "F32" } as const;

/** Options of {@linkcode hfFolderFromMeta}. */
export interface HfFolderOptions {
  /** 1: `model.safetensors`; more: `model-0000k-of-0000n.safetensors` and the index. */
  shards?: number;
  /** `eos_token_id` of `generation_config.json` (default Llama 3.1 Instruct's three). */
  eosTokenIds?: number[];
}

/**
 * Writes a Hugging Face folder holding a Meta folder's model.
 *
 * @param metaDir A Meta model folder (params.json, consolidated.00.pth).
 * @param dir The folder to write (created).
 * @param options Shards and stop ids.
 * @returns `dir`.
 */
export async function hfFolderFromMeta(
  metaDir: string,
  dir: string,
  options: HfFolderOptions = {},
): Promise<string> {
  const shards = options.shards ?? 1;
  await Deno.mkdir(dir, { recursive: true });
  using checkpoint = loadCheckpoint(metaDir);
  const { config } = checkpoint;
  const bytes = new Uint8Array(checkpoint.weights.buffer);
  const entries: SafetensorsEntry[] = [];
  for (const t of checkpoint.tensors.values()) {
    let data: Uint8Array = bytes.slice(t.byteOffset, t.byteOffset + t.byteLength);
    const heads = t.name.endsWith("attention.wq.weight")
      ? config.nHeads
      : t.name.endsWith("attention.wk.weight")
      ? config.nKvHeads
      : 0;
    if (heads > 0) data = rotateHalfRows(data, heads, t.shape[1] * STORAGE[t.type].blockBytes);
    entries.push({
      name: hfTensorName(t.name),
      dtype: DTYPES[t.type as keyof typeof DTYPES],
      shape: t.shape,
      data,
    });
  }

  // Shard k holds a contiguous run of the tensors (in Meta's order).
  const files = shards === 1
    ? ["model.safetensors"]
    : Array.from({ length: shards }, (_, k) =>
      `model-${String(k + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (const [k, file] of files.entries()) {
    const from = Math.floor((k * entries.length) / shards);
    const to = Math.floor(((k + 1) * entries.length) / shards);
    const part = entries.slice(from, to);
    for (const e of part) weightMap[e.name] = file;
    await Deno.writeFile(join(dir, file), encodeSafetensors(part, { format: "pt" }));
  }
  if (shards > 1) {
    const total = entries.reduce((n, e) => n + e.data.length, 0);
    await writeJson(join(dir, "model.safetensors.index.json"), {
      metadata: { total_size: total },
      weight_map: weightMap,
    });
  }

  const scaling = config.ropeScaling;
  await writeJson(join(dir, "config.json"), {
    architectures: ["LlamaForCausalLM"],
    hidden_act: "silu",
    hidden_size: config.dim,
    intermediate_size: config.hiddenDim,
    max_position_embeddings: config.maxContext,
    model_type: "llama",
    num_attention_heads: config.nHeads,
    num_hidden_layers: config.nLayers,
    num_key_value_heads: config.nKvHeads,
    rms_norm_eps: config.normEps,
    rope_scaling: scaling && {
      factor: scaling.factor,
      low_freq_factor: scaling.lowFreqFactor,
      high_freq_factor: scaling.highFreqFactor,
      original_max_position_embeddings: scaling.originalContext,
      rope_type: "llama3",
    },
    rope_theta: config.ropeTheta,
    tie_word_embeddings: checkpoint.tiedEmbeddings,
    torch_dtype: "bfloat16",
    vocab_size: config.vocabSize,
    bos_token_id: 128000,
    eos_token_id: 128009,
  });
  await writeJson(join(dir, "generation_config.json"), {
    bos_token_id: 128000,
    eos_token_id: options.eosTokenIds ?? [128001, 128008, 128009],
  });
  const tokenizerDir = await ensureLlama3TokenizerJson();
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
    await Deno.copyFile(join(tokenizerDir, file), join(dir, file));
  }
  return dir;
}

/** Within each head, row 2i goes to row i and row 2i + 1 to row i + headDim/2. */
function rotateHalfRows(data: Uint8Array, heads: number, rowBytes: number): Uint8Array {
  const out = new Uint8Array(data.length);
  const headDim = data.length / rowBytes / heads;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < headDim / 2; i++) {
      for (const t of [0, 1]) {
        const from = (h * headDim + 2 * i + t) * rowBytes;
        const to = (h * headDim + t * (headDim / 2) + i) * rowBytes;
        out.set(data.subarray(from, from + rowBytes), to);
      }
    }
  }
  return out;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
}
