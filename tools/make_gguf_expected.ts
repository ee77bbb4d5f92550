/**
 * Writes `tests/fixtures/gguf/llama_cpp.json`: what llama.cpp predicts on the GGUF files
 * `convert` makes of the golden models, so that tests can compare ours with llama.cpp without
 * llama.cpp. For each golden case and type it converts the case (exactly as the tests do, see
 * {@linkcode convertGolden}), records the file's sha256 (the tests check that they convert the
 * very same bytes), and runs llama.cpp through node-llama-cpp (`tools/llama_cpp_run.mjs`: float32
 * KV cache, no flash attention) on the case's prompt ids for its greedy steps: greedy ids and the
 * top-5 log-probabilities of each step.
 *
 * ```sh
 * deno run -A tools/make_gguf_expected.ts        # needs ~/peers/node_modules/node-llama-cpp
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeGgufFile } from "../lib/formats/gguf_writer.ts";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";
import { RowConverter } from "../lib/model/convert_rows.ts";
import { ggufContentsOf, type GgufOutputType } from "../lib/model/gguf_export.ts";
import { placeholderVocabulary } from "../lib/tokenizer/gguf_vocabulary.ts";
import { writeSyntheticModel } from "../lib/model/synthetic.ts";

/** Where the golden cases live. */
export const GOLDEN_DIR: string = fileURLToPath(
  new URL("../tests/fixtures/golden/", import.meta.url),
);

/** The committed expectations. */
export const LLAMA_CPP_EXPECTED: string = fileURLToPath(
  new URL("../tests/fixtures/gguf/llama_cpp.json", import.meta.url),
);

/** Golden cases and the types each is converted to. */
export const GGUF_GOLDEN_RUNS: ReadonlyArray<readonly [string, GgufOutputType]> = [
  ["gqa_scaled", "f32"],
  ["gqa_scaled", "f16"],
  ["gqa_scaled", "bf16"],
  ["tied", "f32"],
  ["tied", "bf16"],
  ["llama3_unscaled", "f32"],
  ["llama3_unscaled", "f16"],
];

/**
 * Quantized files, compared with llama.cpp only (random weights change their outputs outright
 * when quantized, so PyTorch's logits of the float weights are no reference). The golden
 * models' rows (64, 128 weights) are not whole 256-weight super-blocks, so their K mixes fall
 * back to Q5_0/Q8_0 as llama.cpp's do; `k256` (a synthetic model of width 256, written here)
 * holds real Q4_K, Q5_K and Q6_K tensors.
 */
export const GGUF_QUANT_RUNS: ReadonlyArray<readonly [string, GgufOutputType]> = [
  ["gqa_scaled", "q8_0"],
  ["gqa_scaled", "q4_0"],
  ["gqa_scaled", "q4_k_m"],
  ["tied", "q4_k_m"],
  ["k256", "q4_k_m"],
  ["k256", "q5_k_m"],
];

/** The synthetic width-256 model of {@linkcode GGUF_QUANT_RUNS}: its params and prompt. */
export const K256 = {
  params: {
    dim: 256,
    n_layers: 2,
    n_heads: 4,
    n_kv_heads: 2,
    vocab_size: 512,
    multiple_of: 256,
    ffn_dim_multiplier: null,
    norm_eps: 1e-5,
    rope_theta: 500000,
    use_scaled_rope: true,
  },
  promptIds: Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 512),
  steps: 16,
};

/** The prompt ids and step count of a case. */
export async function casePrompt(name: string): Promise<{ promptIds: number[]; steps: number }> {
  if (name === "k256") return { promptIds: K256.promptIds, steps: K256.steps };
  const golden = JSON.parse(await Deno.readTextFile(join(GOLDEN_DIR, name, "golden.json")));
  return { promptIds: golden.promptIds, steps: golden.steps };
}

/** What llama.cpp predicted on one file. */
export interface LlamaCppRun {
  readonly sha256: string;
  readonly greedyIds: number[];
  /** Per step: `[id, log-probability]` of the five likeliest tokens. */
  readonly top: Array<Array<[number, number]>>;
}

/**
 * Converts a golden case to GGUF as `llama convert` does (its tiny vocabulary gets the
 * placeholder tokenizer).
 *
 * @param name The golden case.
 * @param type The output type.
 * @param path The file to write.
 * @param threads Threads encoding the rows (the file must not depend on it).
 */
export async function convertGolden(
  name: string,
  type: GgufOutputType,
  path: string,
  threads = 1,
) {
  let dir = join(GOLDEN_DIR, name);
  if (name === "k256") {
    dir = join(path, "..", "k256-model");
    await writeSyntheticModel(dir, K256.params, { seed: 3, dtype: "bf16", overwrite: true });
  }
  using checkpoint = loadCheckpoint(dir);
  const vocabulary = placeholderVocabulary(checkpoint.config.vocabSize);
  using converter = await RowConverter.start(checkpoint.weights, threads);
  const contents = ggufContentsOf(checkpoint, { type, vocabulary, name, converter });
  await writeGgufFile(path, contents.metadata, contents.tensors);
}

/**
 * The sha256 of a file, in hex.
 *
 * @param path The file.
 * @returns 64 hex digits.
 */
export async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  const runner = fileURLToPath(new URL("./llama_cpp_run.mjs", import.meta.url));
  const dir = await Deno.makeTempDir({ prefix: "gguf-expected-" });
  const out: Record<string, LlamaCppRun> = {};
  for (const [name, type] of [...GGUF_GOLDEN_RUNS, ...GGUF_QUANT_RUNS]) {
    const path = join(dir, `${name}-${type}.gguf`);
    await convertGolden(name, type, path);
    const { promptIds, steps } = await casePrompt(name);
    const request = { promptIds, steps, top: 5, threads: 2 };
    const result = await new Deno.Command("node", {
      args: [runner, path, JSON.stringify(request)],
      stderr: "inherit",
    }).output();
    if (!result.success) throw new Error(`llama.cpp failed on ${path}`);
    const run = JSON.parse(new TextDecoder().decode(result.stdout));
    out[`${name}/${type}`] = { sha256: await sha256(path), greedyIds: run.greedyIds, top: run.top };
    console.log(`${name} ${type}: llama.cpp greedy ids ${run.greedyIds.join(" ")}`);
  }
  await Deno.mkdir(join(LLAMA_CPP_EXPECTED, ".."), { recursive: true });
  await Deno.writeTextFile(LLAMA_CPP_EXPECTED, JSON.stringify(out, null, 1) + "\n");
  await Deno.remove(dir, { recursive: true });
  console.log(`wrote ${LLAMA_CPP_EXPECTED}`);
}
