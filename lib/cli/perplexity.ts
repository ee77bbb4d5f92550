/**
 * `llama perplexity FILE`: the model's perplexity on a text file, as llama.cpp's `perplexity`
 * tool reports it, with the chunking of {@linkcode perplexity} (chunks of `--chunk` tokens,
 * each read after `<|begin_of_text|>`, every token scored). Progress goes to stderr, the
 * result to stdout.
 *
 * @example
 * ```sh
 * deno task llama perplexity --model ~/.cache/llama-bolts/demo-brown tests/fixtures/demo_model/slice.txt
 * ```
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { perplexity } from "../model/perplexity.ts";
import { LoadedModel } from "./loaded_model.ts";
import { numberFlag, parseCommandArgs } from "./options.ts";
import { kernelsFlag } from "./run_options.ts";
import { writeErr, writeOut } from "./terminal.ts";

/** Chunk length unless `--chunk` is given: the demo model's training context. */
export const DEFAULT_CHUNK = 128;

/** Help of the `perplexity` command. */
export const PERPLEXITY_HELP =
  `Usage: llama perplexity [--model DIR] [--chunk N] [--threads N] [--kernels K] [--json] FILE

Prints the model's perplexity on the text in FILE: exp of the mean negative
log-likelihood of its tokens. The tokens are cut into chunks of N (default
${DEFAULT_CHUNK}); each chunk is read after <|begin_of_text|> and every token of it is
scored. Lower is better; a model that guesses uniformly over the vocabulary scores
128256.

Options:
  --model DIR        the model folder (default: $LLAMA_MODEL, then Meta's usual places)
  --chunk N          tokens per chunk (default ${DEFAULT_CHUNK})
  --threads N        threads (default: every core)
  --kernels K        wasm (default) or ts
  --json             one JSON object: {perplexity, nll, tokens, chunks, chunk}

Example:
  deno task llama perplexity --model ~/.cache/llama-bolts/demo-brown-<hash> slice.txt
`;

/**
 * Runs `perplexity` with the arguments after the command name.
 *
 * @param args command-line arguments
 * @returns the exit code
 */
export async function runPerplexity(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("perplexity", args, {
    model: { type: "string" },
    chunk: { type: "string" },
    threads: { type: "string" },
    kernels: { type: "string" },
    json: { type: "boolean" },
  });
  if (positionals.length !== 1) {
    throw new UsageError(
      `perplexity: expected one FILE argument, got ${positionals.length} (see 'llama perplexity --help')`,
    );
  }
  const file = positionals[0];
  const chunk = numberFlag("chunk", values.chunk, { min: 1, max: 131072, integer: true }) ??
    DEFAULT_CHUNK;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new UsageError(`perplexity: no file ${file}`, { fix: "pass the path of a text file" });
  }
  const json = values.json === true;
  using model = await LoadedModel.load(
    typeof values.model === "string" ? values.model : undefined,
    {
      context: Math.max(16, chunk),
      threads: numberFlag("threads", values.threads, { min: 1, max: 256, integer: true }),
      kernels: kernelsFlag(values.kernels),
    },
    json,
  );
  const ids = model.tokenizer.encode(text);
  if (ids.length === 0) throw new UsageError(`perplexity: ${file} holds no text`);
  const started = performance.now();
  const result = await perplexity(model.transformer, ids, {
    chunk,
    onProgress: (done, total) => {
      if (!json && Deno.stderr.isTerminal()) writeErr(`\r  ${done}/${total} tokens`);
    },
  });
  if (!json && Deno.stderr.isTerminal()) writeErr("\n");
  const seconds = (performance.now() - started) / 1000;
  if (json) {
    writeOut(JSON.stringify({ ...result, chunk, seconds }) + "\n");
  } else {
    writeOut(
      `perplexity ${result.perplexity.toFixed(3)} over ${result.tokens} tokens ` +
        `(${result.chunks} chunk${result.chunks === 1 ? "" : "s"} of up to ${chunk}; ` +
        `${(result.tokens / seconds).toFixed(0)} tokens/s)\n`,
    );
  }
  return 0;
}
