/**
 * Running one generation in front of a person: streams the text as it is
 * completed (emoji annotated with their names), keeps the status block up to
 * date, turns Ctrl+C into a clean stop, and prints the stats afterwards.
 *
 * @module
 */

import { generate, type Generation } from "../generate/generate.ts";
import { createSampler } from "../generate/sampler.ts";
import type { Session } from "../generate/session.ts";
import { EmojiAnnotator } from "./emoji.ts";
import { onInterrupt } from "./interrupt.ts";
import type { LoadedModel } from "./loaded_model.ts";
import type { RunOptions } from "./run_options.ts";
import { LiveStatus } from "./status.ts";
import { type Paint, writeErr, writeOut } from "./terminal.ts";

/** How a generation is shown. */
export interface StreamView {
  /** Title of the status block. */
  title: string;
  /** Show the live status block (menu); otherwise only the text, then stats. */
  liveStatus: boolean;
  /** Whether stdout is a terminal (redraw in place) or not (plain lines). */
  terminal: boolean;
  paint: Paint;
  /** Stream text to stdout (false with --json). */
  printText: boolean;
  /** Text shown before the generated text (the prompt of a completion). */
  leadText?: string;
  /** Print the stats line at the end (to stderr). */
  printStats: boolean;
  /** Shorten `--max-tokens` to what the context has left (chat) instead of failing (complete). */
  clampToContext: boolean;
  /** Called with every step's logits (for --logits-out). */
  onLogits?: (logits: Float32Array, step: number) => void;
}

/**
 * Generates after `prompt` in `session`, showing it as `view` says.
 *
 * @param model the loaded model
 * @param session the conversation (KV cache) to continue
 * @param prompt token ids to add before generating
 * @param run sampling and limits
 * @param view how to show it
 * @returns the finished generation (ids, text, stats, stop reason)
 */
export async function streamGeneration(
  model: LoadedModel,
  session: Session,
  prompt: readonly number[],
  run: RunOptions,
  view: StreamView,
): Promise<Generation> {
  const nLayers = model.checkpoint.config.nLayers;
  const controller = new AbortController();
  const status = view.liveStatus
    ? new LiveStatus({ terminal: view.terminal, paint: view.paint, title: view.title })
    : undefined;
  const maxNewTokens = view.clampToContext
    ? Math.max(1, Math.min(run.maxTokens, session.remaining - prompt.length))
    : run.maxTokens;
  const generation = generate(session, prompt, {
    tokenizer: model.tokenizer,
    stopTokens: model.stopTokens,
    maxNewTokens,
    sampler: createSampler(run.sampler),
    signal: controller.signal,
    onLayer: status ? (layer) => status.update({ layer: layer + 1 }) : undefined,
    onLogits: view.onLogits,
  });
  const annotator = run.emojiNames && view.printText ? new EmojiAnnotator() : undefined;
  const interrupt = onInterrupt(() => controller.abort(new Error("interrupted")));
  try {
    status?.start({
      phase: "prefill",
      generated: 0,
      limit: maxNewTokens,
      promptTokens: generation.promptIds.length,
      nLayers,
    });
    if (view.printText && view.leadText) {
      if (status) status.text(view.leadText);
      else writeOut(view.leadText);
    }
    let pending = 0; // tokens whose bytes end in an unfinished UTF-8 character
    for await (const token of generation) {
      pending = token.text === "" ? pending + 1 : 0;
      status?.update({ phase: "decode", generated: token.index + 1, layer: 0, pending });
      if (!view.printText || token.text === "") continue;
      const text = annotator ? annotator.push(token.text) : token.text;
      if (status) status.text(text);
      else writeOut(text);
    }
    const tail = annotator?.flush() ?? "";
    if (view.printText) {
      if (status) status.text(tail);
      else writeOut(tail);
      // End the text's line; on a terminal the status block's finish() does it.
      if (!(status && view.terminal)) writeOut("\n");
    }
  } finally {
    interrupt[Symbol.dispose]();
    status?.finish();
  }
  const limitedBy = maxNewTokens < run.maxTokens ? "context" : "max-tokens";
  if (view.printStats) writeErr(view.paint("dim", statsLine(generation, limitedBy)) + "\n");
  return generation;
}

/** One line of stats: counts, speeds and why the generation ended. */
export function statsLine(
  generation: Generation,
  limitedBy: "context" | "max-tokens" = "max-tokens",
): string {
  const s = generation.stats;
  const why = generation.stopReason === "aborted"
    ? "stopped by Ctrl+C"
    : generation.stopReason === "max-tokens"
    ? (limitedBy === "context" ? "the context is full" : "reached --max-tokens")
    : "end of turn";
  return `[${s.promptTokens} prompt tokens, ${s.generatedTokens} generated (${why}) · ` +
    `first token ${(s.timeToFirstTokenMs / 1000).toFixed(2)} s · prefill ${
      s.prefillTokensPerSecond.toFixed(1)
    } tok/s · decode ${s.decodeTokensPerSecond.toFixed(2)} tok/s]`;
}

/** The stats as the JSON fields `--json` prints. */
export function statsJson(generation: Generation, loadMs: number): Record<string, number> {
  const s = generation.stats;
  return {
    load_ms: round(loadMs),
    prompt_tokens: s.promptTokens,
    generated_tokens: s.generatedTokens,
    time_to_first_token_ms: round(s.timeToFirstTokenMs),
    prefill_ms: round(s.prefillMs),
    prefill_tokens_per_second: round(s.prefillTokensPerSecond),
    decode_ms: round(s.decodeMs),
    decode_tokens_per_second: round(s.decodeTokensPerSecond),
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
