/**
 * A {@linkcode Checkpoint} as the contents of a GGUF file for llama.cpp: the metadata
 * (`general.*`, the `llama.*` hyperparameters, the tokenizer and chat template) and one tensor
 * source per weight, converted to the requested type row by row as the writer pulls them
 * (`lib/formats/gguf_writer.ts`), so nothing is held in memory but a chunk.
 *
 * What llama.cpp expects of a Llama file, and how a checkpoint is turned into it:
 *
 * - Tensor names: llama.cpp's (`blk.0.attn_q.weight`, see `gguf_tensor_names.ts`).
 * - Query and key rows: llama.cpp rotates interleaved pairs `(2i, 2i + 1)` for architecture
 *   `llama` (its "normal" RoPE), which is Meta's layout: Meta's rows are written as they are.
 *   Hugging Face's rows (`rotate_half` order, `ropeLayout: "halves"`) are put back in Meta's
 *   order, as llama.cpp's own `convert_hf_to_gguf.py` does.
 * - Llama 3.1 RoPE scaling: not a key but the float32 tensor `rope_freqs.weight` of
 *   `headDim / 2` divisors, frequency `i` being `theta^(-2i/headDim) / rope_freqs[i]`.
 * - Norm weights (1-D) are float32 whatever the type, as llama.cpp's converter stores them.
 * - Tied embeddings: no `output.weight`; llama.cpp then reuses `token_embd.weight`.
 *
 * @example
 * ```ts
 * import { ggufContentsOf } from "./gguf_export.ts";
 * import { loadCheckpoint } from "./checkpoint.ts";
 * import { RowConverter } from "./convert_rows.ts";
 * import { writeGgufFile } from "../formats/gguf_writer.ts";
 * import { placeholderVocabulary } from "../tokenizer/gguf_vocabulary.ts";
 *
 * using checkpoint = loadCheckpoint("tests/fixtures/golden/tied");
 * const vocabulary = placeholderVocabulary(checkpoint.config.vocabSize);
 * using converter = await RowConverter.start(checkpoint.weights, 2);
 * const { metadata, tensors } = ggufContentsOf(checkpoint, { type: "f16", vocabulary, converter });
 * await writeGgufFile("/tmp/tied-f16.gguf", metadata, tensors);
 * ```
 *
 * @module
 */

import { basename } from "node:path";
import { type GgmlTypeInfo, ggmlTypeOfStorage, GGUF_FILE_TYPES } from "../formats/gguf_types.ts";
import { gguf, type GgufTensorSource, type GgufValue } from "../formats/gguf_writer.ts";
import { ropeFrequencies } from "../kernels/rope.ts";
import { storageBytes, type StorageType } from "../tensor/storage.ts";
import type { GgufVocabulary } from "../tokenizer/gguf_vocabulary.ts";
import { type Checkpoint, matrixOfTensor, type WeightTensor } from "./checkpoint.ts";
import type { ModelConfig } from "./config.ts";
import { CONVERT_CHUNK_BYTES, type RowConverter } from "./convert_rows.ts";
import { ggufTensorName, ROPE_FREQS_TENSOR } from "./gguf_tensor_names.ts";

/** The types `convert` writes; the name is also `general.file_type`'s. */
export type GgufOutputType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0" | "q4_k_m" | "q5_k_m";

/** Every output type, for flags and messages. */
export const GGUF_OUTPUT_TYPES: readonly GgufOutputType[] = [
  "f16",
  "bf16",
  "f32",
  "q8_0",
  "q4_0",
  "q4_k_m",
  "q5_k_m",
];

/** The block type most matrices of a quantized output type get. */
const BASE_TYPE: Readonly<Record<GgufOutputType, StorageType>> = {
  f32: "f32",
  f16: "f16",
  bf16: "bf16",
  q8_0: "q8_0",
  q4_0: "q4_0",
  q4_k_m: "q4_k",
  q5_k_m: "q5_k",
};

/**
 * llama.cpp's fallbacks for K-quant tensors whose rows are not whole 256-weight super-blocks.
 * (llama.cpp turns Q5_K into Q5_1, a type llama-bolts does not have: Q8_0 here.)
 */
const ROW_FALLBACK: Partial<Record<StorageType, StorageType>> = {
  q4_k: "q5_0",
  q5_k: "q8_0",
  q6_k: "q8_0",
};

/**
 * The storage type of one tensor in a file of `output` type, following llama.cpp's quantizer
 * (`llama_tensor_get_type`): 1-D tensors stay float32; the output layer (or, with tied
 * embeddings, the embedding that serves as it) gets Q6_K in every quantized type but Q8_0; in
 * Q4_K_M and Q5_K_M, `attn_v` and `ffn_down` get Q6_K in the layers `useMoreBits` picks (the
 * first and last eighth, and every third between); a K-quant whose rows are not whole
 * super-blocks falls back ({@linkcode ROW_FALLBACK}).
 *
 * @param name Meta's tensor name.
 * @param shape Its shape.
 * @param output The file's type.
 * @param nLayers The model's layer count.
 * @param tied Whether the embedding is also the output layer.
 * @returns The storage type to write.
 */
export function ggufTensorStorage(
  name: string,
  shape: readonly number[],
  output: GgufOutputType,
  nLayers: number,
  tied: boolean,
): StorageType {
  if (shape.length === 1) return "f32";
  let type = BASE_TYPE[output];
  const quantized = output.startsWith("q");
  const kMix = output === "q4_k_m" || output === "q5_k_m";
  const layer = Number(/^layers\.(\d+)\./.exec(name)?.[1] ?? -1);
  const cols = shape[shape.length - 1];
  if (name === "output.weight" || (tied && name === "tok_embeddings.weight")) {
    if (quantized && output !== "q8_0") type = cols % 256 === 0 ? "q6_k" : "q8_0";
  } else if (kMix && /\.attention\.wv\.weight$|\.feed_forward\.w2\.weight$/.test(name)) {
    if (useMoreBits(layer, nLayers)) type = "q6_k";
  }
  const blockElements = type.endsWith("_k") ? 256 : 1;
  if (cols % blockElements !== 0) type = ROW_FALLBACK[type] ?? type;
  return type;
}

/** llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third. */
function useMoreBits(layer: number, nLayers: number): boolean {
  const eighth = Math.floor(nLayers / 8);
  return layer < eighth || layer >= Math.floor((7 * nLayers) / 8) ||
    (layer - eighth) % 3 === 2;
}

/**
 * The chat template written into files: Llama 3's header format, as the engine encodes a chat
 * (`lib/tokenizer/chat_template.ts`), in the Jinja dialect llama.cpp and ollama read. llama.cpp
 * recognises it as Llama 3's by its `<|start_header_id|>`.
 */
export const LLAMA3_CHAT_TEMPLATE: string = "{{- bos_token }}" +
  "{%- for message in messages %}" +
  "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + " +
  "message['content'] + '<|eot_id|>' }}" +
  "{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}" +
  "{%- endif %}";

/** Options of {@linkcode ggufContentsOf}. */
export interface GgufExportOptions {
  /** Type of the weight matrices. */
  readonly type: GgufOutputType;
  /** The tokenizer's metadata. */
  readonly vocabulary: GgufVocabulary;
  /** `general.name` (default: the checkpoint folder's name). */
  readonly name?: string;
  /** Encodes the rows (on one thread or several); keep it open while writing. */
  readonly converter: RowConverter;
}

/** What to write: metadata pairs and tensors in file order. */
export interface GgufContents {
  readonly metadata: Array<readonly [string, GgufValue]>;
  readonly tensors: GgufTensorSource[];
}

/** Rows converted per chunk: about this many elements. */
const CHUNK_ELEMENTS = 1 << 20;

/**
 * The GGUF contents of a checkpoint.
 *
 * @param checkpoint An open checkpoint (Meta's or Hugging Face's); keep it open while writing.
 * @param options Output type, vocabulary and name.
 * @returns Metadata and tensor sources for `writeGgufFile`.
 */
export function ggufContentsOf(checkpoint: Checkpoint, options: GgufExportOptions): GgufContents {
  const { config } = checkpoint;
  const metadata = ggufMetadata(config, options);
  const tensors: GgufTensorSource[] = [];
  if (config.ropeScaling !== null) tensors.push(ropeFreqsTensor(config));
  for (const tensor of checkpoint.tensors.values()) {
    let name: string;
    try {
      name = ggufTensorName(tensor.name);
    } catch {
      continue; // not one of Llama's tensors (e.g. a stray buffer): llama.cpp would refuse it
    }
    const storage = ggufTensorStorage(
      tensor.name,
      tensor.shape,
      options.type,
      config.nLayers,
      checkpoint.tiedEmbeddings,
    );
    const headsToInterleave = checkpoint.ropeLayout === "halves"
      ? /\.attention\.wq\.weight$/.test(tensor.name)
        ? config.nHeads
        : /\.attention\.wk\.weight$/.test(tensor.name)
        ? config.nKvHeads
        : 0
      : 0;
    tensors.push(
      convertedTensor(
        checkpoint,
        tensor,
        name,
        ggmlTypeOfStorage(storage),
        headsToInterleave,
        options.converter,
      ),
    );
  }
  return { metadata, tensors };
}

/**
 * The metadata of a Llama GGUF file.
 *
 * @param config The model's config.
 * @param options Output type, vocabulary and name.
 * @returns Key/value pairs in the order llama.cpp's converter writes them.
 */
export function ggufMetadata(
  config: ModelConfig,
  options: Pick<GgufExportOptions, "type" | "vocabulary" | "name">,
): Array<readonly [string, GgufValue]> {
  const { vocabulary: v } = options;
  const metadata: Array<readonly [string, GgufValue]> = [
    ["general.architecture", gguf.string("llama")],
    ["general.name", gguf.string(options.name ?? "llama")],
    ["general.file_type", gguf.uint32(GGUF_FILE_TYPES[options.type])],
    ...(options.type.startsWith("q")
      ? [["general.quantization_version", gguf.uint32(2)] as const]
      : []),
    ["llama.vocab_size", gguf.uint32(config.vocabSize)],
    ["llama.context_length", gguf.uint32(config.maxContext)],
    ["llama.embedding_length", gguf.uint32(config.dim)],
    ["llama.block_count", gguf.uint32(config.nLayers)],
    ["llama.feed_forward_length", gguf.uint32(config.hiddenDim)],
    ["llama.rope.dimension_count", gguf.uint32(config.headDim)],
    ["llama.attention.head_count", gguf.uint32(config.nHeads)],
    ["llama.attention.head_count_kv", gguf.uint32(config.nKvHeads)],
    ["llama.attention.layer_norm_rms_epsilon", gguf.float32(config.normEps)],
    ["llama.rope.freq_base", gguf.float32(config.ropeTheta)],
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.pre", gguf.string("llama-bpe")],
    ["tokenizer.ggml.tokens", gguf.array("string", v.tokens)],
    ["tokenizer.ggml.token_type", gguf.array("int32", v.tokenTypes)],
    ["tokenizer.ggml.merges", gguf.array("string", v.merges)],
    ["tokenizer.ggml.bos_token_id", gguf.uint32(v.bosId)],
    ["tokenizer.ggml.eos_token_id", gguf.uint32(v.eosId)],
  ];
  if (v.eotId >= 0) metadata.push(["tokenizer.ggml.eot_token_id", gguf.uint32(v.eotId)]);
  if (v.eomId >= 0) metadata.push(["tokenizer.ggml.eom_token_id", gguf.uint32(v.eomId)]);
  if (v.eotId >= 0) metadata.push(["tokenizer.chat_template", gguf.string(LLAMA3_CHAT_TEMPLATE)]);
  return metadata;
}

/** `general.name` for a checkpoint: its folder's name. */
export function ggufModelName(checkpoint: Checkpoint): string {
  return basename(checkpoint.path);
}

/**
 * Llama 3.1's scaling as llama.cpp reads it: per frequency, the unscaled frequency divided by
 * the scaled one (1 for high frequencies, `factor` for the lowest).
 */
function ropeFreqsTensor(config: ModelConfig): GgufTensorSource {
  const plain = ropeFrequencies(config.headDim, config.ropeTheta, null);
  const scaled = ropeFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
  const divisors = new Float32Array(plain.length);
  for (let i = 0; i < plain.length; i++) divisors[i] = plain[i] / scaled[i];
  return {
    name: ROPE_FREQS_TENSOR,
    type: ggmlTypeOfStorage("f32"),
    shape: [divisors.length],
    chunks: () => [new Uint8Array(divisors.buffer)],
  };
}

/**
 * A tensor read row by row from the weights, widened to float32 and encoded as `type` by
 * `converter`; a tensor already of that type is copied as it is. `headsToInterleave > 0` reorders each head's rows from `rotate_half` halves
 * to interleaved pairs.
 */
function convertedTensor(
  checkpoint: Checkpoint,
  tensor: WeightTensor,
  name: string,
  type: GgmlTypeInfo,
  headsToInterleave: number,
  converter: RowConverter,
): GgufTensorSource {
  const ref = matrixOfTensor(tensor);
  const { rows, cols } = ref;
  const target = type.storage!;
  return {
    name,
    type,
    shape: tensor.shape,
    async *chunks() {
      if (tensor.type === target && headsToInterleave === 0) {
        const bytes = new Uint8Array(
          checkpoint.weights.buffer,
          tensor.byteOffset,
          tensor.byteLength,
        );
        for (let at = 0; at < bytes.length; at += 4 * CHUNK_ELEMENTS) {
          yield bytes.subarray(at, at + 4 * CHUNK_ELEMENTS);
        }
        return;
      }
      const rowsPerChunk = Math.max(
        1,
        Math.floor(CONVERT_CHUNK_BYTES / storageBytes(target, cols)),
      );
      for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
        const n = Math.min(rowsPerChunk, rows - r0);
        yield await converter.convert(ref, target, r0, n, headsToInterleave);
      }
    },
  };
}
