/**
 * `llama convert`: writes a model folder (Meta's or Hugging Face's) or a GGUF file as one GGUF
 * file for llama.cpp, ollama or LM Studio, with its tokenizer and chat template, streaming (the
 * 8B model converts in a few megabytes of memory besides the mapped weights), quantizing on
 * every core, with a progress line on stderr. The file appears only once complete.
 *
 * @module
 */

import { resolve } from "node:path";
import { LlamaError, UsageError } from "../errors.ts";
import { writeGgufFile } from "../formats/gguf_writer.ts";
import { pathExists } from "../files.ts";
import {
  GGUF_OUTPUT_TYPES,
  ggufContentsOf,
  ggufModelName,
  type GgufOutputType,
} from "../model/gguf_export.ts";
import {
  type GgufVocabulary,
  ggufVocabularyOf,
  placeholderVocabulary,
} from "../tokenizer/gguf_vocabulary.ts";
import { modelDir, openCheckpoint, openModelTokenizer } from "./model_files.ts";
import { RowConverter } from "../model/convert_rows.ts";
import { numberFlag, parseCommandArgs } from "./options.ts";
import { capThreads } from "./run_options.ts";
import { gigabytes, megabytesPerSecond, Progress } from "./progress.ts";
import { writeErr } from "./terminal.ts";
import { TokenizerError } from "../errors.ts";

/** The `--help` text of `convert`. */
export const CONVERT_HELP: string =
  `Usage: llama convert [--model DIR] --out FILE.gguf [--type TYPE] [--threads N] [--force]

Writes the model as one GGUF file, the format of llama.cpp, ollama and LM Studio:
hyperparameters, tokenizer (tokenizer.model or tokenizer.json), the Llama 3 chat
template and the weights. Matrices are stored in --type, norms in float32. The
file is written beside FILE under a temporary name and renamed when complete.

Options:
  --model DIR        Meta checkpoint folder, Hugging Face folder or GGUF file
                     (see 'llama help')
  --out FILE         the GGUF file to write
  --type T           f16 (default), bf16 (Meta's own type: exact), f32, or quantized:
                     q8_0, q4_0, q4_k_m, q5_k_m (llama.cpp's mixes: Q6_K for the
                     output layer, and in the K mixes for some attn_v and ffn_down)
  --threads N        threads encoding the weights (default: one per core; the
                     file is the same bytes for any number)
  --force            replace FILE if it exists
  -h, --help         this text

Examples:
  deno task llama convert --model ~/.llama/checkpoints/Llama3.2-1B-Instruct \\
    --out llama-3.2-1b-instruct-f16.gguf
  ollama create my-llama -f Modelfile     # Modelfile: FROM ./llama-3.2-1b-instruct-f16.gguf
`;

/**
 * Runs `convert` with its arguments (without the command name).
 *
 * @param args Command-line arguments.
 * @returns The exit code: 0 done, 2 bad usage, 1 other errors.
 */
export async function runConvert(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("convert", args, {
    model: { type: "string" },
    out: { type: "string" },
    type: { type: "string" },
    threads: { type: "string" },
    force: { type: "boolean" },
  });
  if (positionals.length > 0) {
    throw new UsageError(`convert: unexpected argument '${positionals[0]}'`);
  }
  if (typeof values.out !== "string" || values.out === "") {
    throw new UsageError("convert: --out FILE.gguf is required (see 'llama convert --help')");
  }
  const type = (values.type ?? "f16") as GgufOutputType;
  if (!GGUF_OUTPUT_TYPES.includes(type)) {
    throw new UsageError(
      `--type: expected ${GGUF_OUTPUT_TYPES.join(", ")}, got '${values.type}'`,
    );
  }
  const threads = capThreads(numberFlag("threads", values.threads, { min: 1, integer: true })) ??
    navigator.hardwareConcurrency;
  const out = resolve(values.out);
  if (!values.force && pathExists(out)) {
    throw new UsageError(`${out} already exists; pass --force to replace it`);
  }

  const dir = modelDir(values.model);
  using checkpoint = openCheckpoint(dir);
  const vocabulary = readVocabulary(dir, checkpoint.config.vocabSize);
  using converter = await RowConverter.start(checkpoint.weights, threads);
  const { metadata, tensors } = ggufContentsOf(checkpoint, {
    type,
    vocabulary,
    name: ggufModelName(checkpoint),
    converter,
  });
  writeErr(
    `converting ${checkpoint.path} to ${type} GGUF on ${threads} thread(s): ${out}\n`,
  );
  const progress = new Progress(Deno.stderr.isTerminal());
  const bytes = await writeGgufFile(out, metadata, tensors, {
    onProgress: (done, total) => progress.update(done, total),
  });
  const seconds = progress.finish();
  writeErr(
    `wrote ${out} (${gigabytes(bytes)}, ${tensors.length} tensors) in ${seconds.toFixed(1)} s ` +
      `(${megabytesPerSecond(bytes, seconds)})\n`,
  );
  return 0;
}

/**
 * The folder's tokenizer as GGUF metadata; a model without one whose vocabulary is not Llama
 * 3's (the tests' tiny models) gets a placeholder, which is said.
 */
function readVocabulary(dir: string, vocabSize: number): GgufVocabulary {
  try {
    const { tokenizer } = openModelTokenizer(dir);
    if (tokenizer.vocabSize !== vocabSize) {
      throw new UsageError(
        `convert: the tokenizer has ${tokenizer.vocabSize} tokens but the model ${vocabSize}; ` +
          `use the tokenizer that came with the checkpoint`,
      );
    }
    return ggufVocabularyOf(tokenizer);
  } catch (error) {
    const missing = error instanceof TokenizerError && !(error instanceof UsageError) &&
      /cannot read/.test(error.message);
    if (!missing || vocabSize >= 128000) throw error;
    writeErr(
      `note: no tokenizer in ${dir}; writing a placeholder vocabulary of ${vocabSize} tokens ` +
        `(single bytes, then control tokens), prompts must be given as ids\n`,
    );
    return placeholderVocabulary(vocabSize);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await runConvert(Deno.args));
  } catch (error) {
    if (!(error instanceof LlamaError)) throw error;
    writeErr(`error: ${error.message}\n`);
    Deno.exit(error.exitCode);
  }
}
