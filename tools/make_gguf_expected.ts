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
import { ggufContentsOf, type GgufOutputType } from "../lib/model/gguf_export.ts";
import { placeholderVocabulary } from "../lib/tokenizer/gguf_vocabulary.ts";

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
 */
export async function convertGolden(name: string, type: GgufOutputType, path: string) {
  using checkpoint = loadCheckpoint(join(GOLDEN_DIR, name));
  const vocabulary = placeholderVocabulary(checkpoint.config.vocabSize);
  const { metadata, tensors } = ggufContentsOf(checkpoint, { type, vocabulary, name });
  await writeGgufFile(path, metadata, tensors);
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
  for (const [name, type] of GGUF_GOLDEN_RUNS) {
    const path = join(dir, `${name}-${type}.gguf`);
    await convertGolden(name, type, path);
    const golden = JSON.parse(await Deno.readTextFile(join(GOLDEN_DIR, name, "golden.json")));
    const request = { promptIds: golden.promptIds, steps: golden.steps, top: 5, threads: 2 };
    const result = await new Deno.Command("node", {
      args: [runner, path, JSON.stringify(request)],
      stderr: "inherit",
    }).output();
    if (!result.success) throw new Error(`llama.cpp failed on ${path}`);
    const run = JSON.parse(new TextDecoder().decode(result.stdout));
    out[`${name}/${type}`] = { sha256: await sha256(path), greedyIds: run.greedyIds, top: run.top };
    const same = JSON.stringify(run.greedyIds) === JSON.stringify(golden.greedyIds);
    console.log(`${name} ${type}: llama.cpp greedy ids ${same ? "=" : "≠"} PyTorch's`);
  }
  await Deno.mkdir(join(LLAMA_CPP_EXPECTED, ".."), { recursive: true });
  await Deno.writeTextFile(LLAMA_CPP_EXPECTED, JSON.stringify(out, null, 1) + "\n");
  await Deno.remove(dir, { recursive: true });
  console.log(`wrote ${LLAMA_CPP_EXPECTED}`);
}
