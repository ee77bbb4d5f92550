/**
 * End-to-end generation speed of one model folder: load, a fixed prompt, greedy decoding.
 *
 * The prompt is a fixed English paragraph encoded with the folder's `tokenizer.model` (repeated
 * or cut to `--prompt-tokens`, `<|begin_of_text|>` first), or fixed pseudo-random token ids when
 * the folder has no tokenizer. Stop tokens are ignored so that every run decodes exactly
 * `--tokens` tokens. Prints load time, time to first token, prefill and decode speed, peak
 * resident memory and threads as a table, or as one JSON object with `--json`; progress goes to
 * stderr.
 *
 *     deno task bench:generate --model /tmp/model-1b --threads 2
 *     deno task bench:generate --model /tmp/model-8b --prompt-tokens 20 --tokens 8 --json
 *
 * Peak memory is the process's high-water mark of resident memory (`ru_maxrss`, which is
 * `VmHWM` in `/proc/self/status` on Linux). Pages of the mapped checkpoint count once they have
 * been touched, so after one forward pass it includes the whole weight file although nothing
 * was copied: compare it with the file size, not with zero. The process's own memory is the
 * anonymous part (`RssAnon`: KV cache, activations, heap), sampled after load and after every
 * token; its peak is reported too.
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import { LlamaError } from "../lib/errors.ts";
import { numberFlag, parseCommandArgs } from "../lib/cli/options.ts";
import { generate } from "../lib/generate/generate.ts";
import { Session } from "../lib/generate/session.ts";
import { locateModelDir } from "../lib/cli/locate.ts";
import { openCheckpoint, openModelTokenizer } from "../lib/cli/model_files.ts";
import { isGgufPath } from "../lib/model/gguf_checkpoint.ts";
import { kernelsFlag } from "../lib/cli/run_options.ts";
import type { BackendName } from "../lib/kernels/backend.ts";
import { Transformer } from "../lib/model/transformer.ts";
import { Tokenizer } from "../lib/tokenizer/tokenizer.ts";

/** The fixed prompt: plain English, about 150 tokens with the Llama 3 tokenizer. */
export const PROMPT_TEXT =
  "The lighthouse keeper climbed the narrow stairs every evening at dusk, counting the steps " +
  "as his father had taught him. There were one hundred and twelve of them, worn smooth in the " +
  "middle by a century of boots. At the top he trimmed the wick, polished the great lens with " +
  "a soft cloth, and wrote the weather in a leather book: wind from the west, a light swell, " +
  "three fishing boats returning late. Ships no longer needed his light, because every captain " +
  "now carried a small screen that knew the coast better than any man could. Still, the keeper " +
  "kept the lamp burning, because on clear nights the children in the village looked up at the " +
  "beam turning slowly over the water and felt, without being able to say why, that someone " +
  "was watching over them.";

/** What one run measured; the `--json` output. */
export interface GenerateBenchResult {
  /** The model folder. */
  model: string;
  /** Model width, layers, vocabulary. */
  dim: number;
  layers: number;
  vocabSize: number;
  /** Storage type of the weight matrices. */
  dtype: string;
  /** Whether the checkpoint is memory-mapped (false: copied into memory). */
  mapped: boolean;
  /** Threads sharing the work, the calling thread included. */
  threads: number;
  /** The kernels: `wasm` or `ts`. */
  kernels: BackendName;
  /** `"tokenizer"` (the fixed paragraph) or `"random"` (fixed pseudo-random ids). */
  promptSource: "tokenizer" | "random";
  /** Tokens in the prefill, `<|begin_of_text|>` included. */
  promptTokens: number;
  /** Positions the KV cache holds. */
  contextLength: number;
  /** Tokens generated; the last one is sampled but not run, so decode steps are one fewer. */
  generatedTokens: number;
  /** Opening the checkpoint plus creating the transformer (buffers, tables, workers). */
  loadMs: number;
  /** Of which: mapping and indexing the checkpoint. */
  checkpointMs: number;
  /** Of which: `Transformer.create`. */
  transformerMs: number;
  /** From the start of generation to the first sampled token (prefill + classifier + argmax). */
  timeToFirstTokenMs: number;
  /** The prefill forward pass. */
  prefillMs: number;
  /** Prompt tokens per second of prefill. */
  prefillTokensPerSecond: number;
  /** All one-token forward passes. */
  decodeMs: number;
  /** One-token forward passes per second. */
  decodeTokensPerSecond: number;
  /** Prefill tokens/s over decode tokens/s: the gain from reading each weight once per batch. */
  prefillToDecodeRatio: number;
  /** Bytes of weight matrices one decode step reads (layers and classifier). */
  weightBytesPerToken: number;
  /** `weightBytesPerToken` × decode tokens/s, in GB/s. */
  decodeWeightGBps: number;
  /** Multiply-adds of the weight matrices per prompt token (layers only), in billions. */
  prefillGFmaPerToken: number;
  /** `prefillGFmaPerToken` × prefill tokens/s. */
  prefillGFmaPerSecond: number;
  /** Peak resident memory of the process in bytes (`ru_maxrss`, i.e. Linux `VmHWM`). */
  peakRssBytes: number;
  /** Peak anonymous resident memory (Linux `RssAnon`, sampled), or 0 where unknown. */
  peakAnonBytes: number;
}

/** Options of {@linkcode runGenerateBench}. */
export interface GenerateBenchOptions {
  /** Model folder (else `LLAMA_MODEL`, else the default download folders). */
  model?: string;
  /** Threads; default one per CPU. */
  threads?: number;
  /** Kernels; default `wasm`. */
  kernels?: BackendName;
  /** Prompt length in tokens, `<|begin_of_text|>` included. Default 100. */
  promptTokens?: number;
  /** Tokens to generate. Default 64. */
  tokens?: number;
  /** KV cache length (context window). Default: prompt + generated tokens. */
  contextLength?: number;
  /** Progress lines (stderr). */
  progress?: (text: string, final: boolean) => void;
}

/**
 * Loads the model, runs the fixed prompt and `tokens` greedy steps, and measures them.
 *
 * @param options Model, threads, sizes, progress callback.
 * @returns The measurements.
 * @throws {LlamaError} When the model cannot be found or loaded.
 */
export async function runGenerateBench(
  options: GenerateBenchOptions = {},
): Promise<GenerateBenchResult> {
  const promptTokens = options.promptTokens ?? 100;
  const tokens = options.tokens ?? 64;
  const progress = options.progress ?? (() => {});
  const dir = locateModelDir(options.model);

  progress(`loading ${dir} …`, true);
  const started = performance.now();
  using checkpoint = openCheckpoint(dir);
  const checkpointMs = performance.now() - started;
  using model = await Transformer.create(checkpoint, {
    threads: options.threads,
    contextLength: options.contextLength ?? promptTokens + tokens,
    kernels: options.kernels,
  });
  const loadMs = performance.now() - started;
  const config = checkpoint.config;
  const weights = checkpoint.weights.mapped ? "mapped" : "copied into memory";
  progress(
    `loaded in ${(loadMs / 1000).toFixed(2)} s: dim ${config.dim}, ${config.nLayers} layers, ` +
      `${model.threads} thread(s), ${model.kernels} kernels, weights ${weights}`,
    true,
  );
  let peakAnon = anonymousResidentBytes();

  const { ids, source } = promptIds(dir, promptTokens, config.vocabSize);
  const session = new Session(model);
  let decoded = 0;
  const generation = generate(session, ids, {
    maxNewTokens: tokens,
    stopTokens: [],
    onLayer: (layer, nLayers) => {
      if (decoded === 0) progress(`prefill ${ids.length} tokens: layer ${layer}/${nLayers}`, false);
    },
  });
  for await (const _ of generation) {
    decoded++;
    peakAnon = Math.max(peakAnon, anonymousResidentBytes());
    progress(`decode: ${decoded}/${tokens} tokens`, decoded === tokens);
  }
  const stats = generation.stats;

  // Weight matrices one decode step reads; norms and the embedding row are negligible.
  let matrixBytes = 0, layerElements = 0;
  for (const [name, tensor] of checkpoint.tensors) {
    if (tensor.shape.length !== 2) continue;
    const elements = tensor.shape[0] * tensor.shape[1];
    if (name.startsWith("layers.")) layerElements += elements;
    if (name === "tok_embeddings.weight" && !checkpoint.tiedEmbeddings) continue;
    matrixBytes += tensor.byteLength;
  }
  const ratio = stats.decodeTokensPerSecond > 0
    ? stats.prefillTokensPerSecond / stats.decodeTokensPerSecond
    : 0;
  return {
    model: dir,
    dim: config.dim,
    layers: config.nLayers,
    vocabSize: config.vocabSize,
    dtype: checkpoint.tensor("layers.0.attention.wq.weight").type,
    mapped: checkpoint.weights.mapped,
    threads: model.threads,
    kernels: model.kernels,
    promptSource: source,
    promptTokens: stats.promptTokens,
    contextLength: model.contextLength,
    generatedTokens: stats.generatedTokens,
    loadMs,
    checkpointMs,
    transformerMs: model.loadMs,
    timeToFirstTokenMs: stats.timeToFirstTokenMs,
    prefillMs: stats.prefillMs,
    prefillTokensPerSecond: stats.prefillTokensPerSecond,
    decodeMs: stats.decodeMs,
    decodeTokensPerSecond: stats.decodeTokensPerSecond,
    prefillToDecodeRatio: ratio,
    weightBytesPerToken: matrixBytes,
    decodeWeightGBps: matrixBytes * stats.decodeTokensPerSecond / 1e9,
    prefillGFmaPerToken: layerElements / 1e9,
    prefillGFmaPerSecond: layerElements * stats.prefillTokensPerSecond / 1e9,
    peakRssBytes: peakResidentBytes(),
    peakAnonBytes: peakAnon,
  };
}

/**
 * The fixed prompt as exactly `count` ids: the paragraph through the folder's tokenizer, or
 * fixed pseudo-random ids (a linear congruential sequence) when there is no tokenizer.
 */
export function promptIds(
  dir: string,
  count: number,
  vocabSize: number,
): { ids: number[]; source: "tokenizer" | "random" } {
  const path = join(dir, "tokenizer.model");
  let tokenizer: Tokenizer | null = null;
  try {
    // A GGUF file carries its tokenizer; a folder may hold tokenizer.model.
    if (isGgufPath(dir)) tokenizer = openModelTokenizer(dir).tokenizer;
    else if (Deno.statSync(path).isFile) tokenizer = Tokenizer.load(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (tokenizer !== null) {
    const ids = tokenizer.encode(PROMPT_TEXT, { bos: true });
    const body = tokenizer.encode(" " + PROMPT_TEXT, { bos: false });
    while (ids.length < count) ids.push(...body);
    return { ids: ids.slice(0, count), source: "tokenizer" };
  }
  let seed = 7;
  const ids = Array.from({ length: count }, () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % Math.min(vocabSize, 128000);
  });
  return { ids, source: "random" };
}

/**
 * The process's peak resident memory: `getrusage`'s `ru_maxrss` (Linux `VmHWM`), which Node's
 * `process.resourceUsage()` reports in KiB without needing permissions (Deno asks for
 * `--allow-all` to read `/proc/self/status`).
 */
function peakResidentBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/**
 * The process's anonymous resident memory (Linux `RssAnon`), or 0 where unknown. Deno reads
 * `/proc` only with `--allow-all`, so `cat` reads it (the task allows running `cat`).
 */
function anonymousResidentBytes(): number {
  try {
    const output = new Deno.Command("cat", { args: [`/proc/${Deno.pid}/status`] }).outputSync();
    const status = new TextDecoder().decode(output.stdout);
    const match = status.match(/RssAnon:\s+(\d+) kB/);
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/** The result as an aligned two-column table. */
export function formatTable(r: GenerateBenchResult): string {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  const rows: Array<[string, string]> = [
    ["model", `${r.model} (dim ${r.dim}, ${r.layers} layers, ${r.dtype})`],
    ["weights", r.mapped ? "mapped into WebAssembly memory" : "copied into memory"],
    ["threads", `${r.threads} (${r.kernels} kernels)`],
    ["prompt", `${r.promptTokens} tokens (${r.promptSource}), context ${r.contextLength}`],
    ["generated", `${r.generatedTokens} tokens (greedy)`],
    [
      "load time",
      `${ms(r.loadMs)} (checkpoint ${ms(r.checkpointMs)}, transformer ${ms(r.transformerMs)})`,
    ],
    ["time to first token", ms(r.timeToFirstTokenMs)],
    [
      "prefill",
      `${r.prefillTokensPerSecond.toFixed(2)} tokens/s ` +
      `(${r.prefillGFmaPerSecond.toFixed(2)} GFMA/s of weights)`,
    ],
    [
      "decode",
      `${r.decodeTokensPerSecond.toFixed(2)} tokens/s ` +
      `(${r.decodeWeightGBps.toFixed(2)} GB/s of weights)`,
    ],
    ["prefill / decode", `${r.prefillToDecodeRatio.toFixed(2)}×`],
    ["peak RSS", `${gib(r.peakRssBytes)} (anonymous: ${gib(r.peakAnonBytes)})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

function ms(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(0)} ms`;
}

/** `--help` of `deno task bench:generate`. */
export const GENERATE_BENCH_HELP =
  `Usage: deno task bench:generate --model DIR [--threads N] [--kernels wasm|ts] [--json]
                               [--prompt-tokens N] [--tokens N] [--context N]

Runs a fixed English prompt (--prompt-tokens, default 100) and --tokens (default 64) greedy
decoded tokens, then prints load time, time to first token, prefill and decode tokens/s, peak
RSS and threads. --threads counts the calling thread (default one per core); --kernels picks
WebAssembly SIMD (default) or plain TypeScript. --context sizes the KV cache (default: the
prompt plus the generated tokens), e.g. 8192 to measure the memory of a full Llama 3 window.

Example:
  deno task make-model --preset 1b --out /tmp/llama-1b
  deno task bench:generate --model /tmp/llama-1b --threads 2 --json
`;

if (import.meta.main) {
  const encoder = new TextEncoder();
  const interactive = Deno.stderr.isTerminal();
  const progress = (text: string, final: boolean) => {
    if (interactive) Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${text}${final ? "\n" : ""}`));
    else if (final) Deno.stderr.writeSync(encoder.encode(`${text}\n`));
  };
  try {
    if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
      console.log(GENERATE_BENCH_HELP);
      Deno.exit(0);
    }
    const { values } = parseCommandArgs("bench:generate", Deno.args, {
      model: { type: "string" },
      threads: { type: "string" },
      kernels: { type: "string" },
      "prompt-tokens": { type: "string" },
      tokens: { type: "string" },
      context: { type: "string" },
      json: { type: "boolean" },
    }, "deno task bench:generate --help");
    const result = await runGenerateBench({
      model: typeof values.model === "string" ? values.model : undefined,
      threads: numberFlag("threads", values.threads, { min: 1, max: 256, integer: true }),
      kernels: kernelsFlag(values.kernels),
      promptTokens:
        numberFlag("prompt-tokens", values["prompt-tokens"], { min: 1, integer: true }) ??
          100,
      tokens: numberFlag("tokens", values.tokens, { min: 1, integer: true }) ?? 64,
      contextLength: numberFlag("context", values.context, { min: 1, integer: true }),
      progress,
    });
    console.log(values.json ? JSON.stringify(result) : formatTable(result));
  } catch (error) {
    if (!(error instanceof LlamaError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exit(error.exitCode);
  }
}
