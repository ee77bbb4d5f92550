/**
 * Text generation: prefill a prompt, then sample one token at a time, streaming each token and
 * the text it completes.
 *
 * {@linkcode generate} returns a {@linkcode Generation}, an async iterable of
 * {@linkcode GeneratedToken}s. Text is emitted only at whole UTF-8 characters (see
 * `utf8_stream.ts`), so an emoji split over several tokens appears once it is complete.
 * Generation stops at a stop token (by default `<|eot_id|>`, `<|eom_id|>`,
 * `<|end_of_text|>`), after `maxNewTokens`, or when the abort signal fires; the stop token is
 * not yielded. A character still incomplete when generation stops is never printed broken: its
 * bytes are in the ids, not in the text. The work happens in a {@linkcode Session}, so a chat continues where the last
 * reply ended without processing earlier turns again.
 *
 * @example
 * ```ts
 * import { generate } from "./generate.ts";
 * import { Session } from "./session.ts";
 * import type { Transformer } from "../model/transformer.ts";
 * import type { Tokenizer } from "../tokenizer/tokenizer.ts";
 *
 * declare const model: Transformer, tokenizer: Tokenizer;
 * const session = new Session(model);
 * const generation = generate(session, "The capital of France is", {
 *   tokenizer,
 *   maxNewTokens: 16,
 * });
 * for await (const token of generation) console.log(token.id, token.text);
 * console.log(generation.stopReason, generation.stats.decodeTokensPerSecond);
 * ```
 *
 * @module
 */

import { ContextError, UsageError } from "../errors.ts";
import { greedySampler, type Sampler } from "./sampler.ts";
import type { Session } from "./session.ts";
import { Utf8Stream } from "./utf8_stream.ts";

/** `<|end_of_text|>`, `<|eom_id|>`, `<|eot_id|>`: where Llama 3.1 ends a text or a turn. */
export const DEFAULT_STOP_TOKENS: readonly number[] = Object.freeze([128001, 128008, 128009]);

/** The part of the tokenizer generation needs (`Tokenizer` satisfies it). */
export interface TextCodec {
  /** Text to token ids. */
  encode(text: string, options?: { bos?: boolean }): number[];
  /** The bytes of one token (a special token's are its text). */
  tokenBytes(id: number): Uint8Array;
}

/** Options of {@linkcode generate}. */
export interface GenerateOptions {
  /**
   * Turns a text prompt into ids and token bytes into text. Needed for a text prompt; without
   * it the yielded tokens carry no text.
   */
  tokenizer?: TextCodec;
  /** Prepend `<|begin_of_text|>` to a text prompt. Default: when the session is empty. */
  bos?: boolean;
  /** Most tokens to generate. Default: until the context is full. */
  maxNewTokens?: number;
  /** Tokens that end the generation (not yielded). Default {@linkcode DEFAULT_STOP_TOKENS}. */
  stopTokens?: readonly number[];
  /** Picks each token from the logits. Default greedy (argmax). */
  sampler?: Sampler;
  /** Stops the generation (between layers); it then ends with `stopReason` `"aborted"`. */
  signal?: AbortSignal;
  /** Called before each layer of each forward pass (for a status line). */
  onLayer?: (layer: number, nLayers: number) => void;
  /**
   * Receives the full logits row of every step before it is sampled (step 0 follows the
   * prompt). The array is reused: copy it to keep it.
   */
  onLogits?: (logits: Float32Array, step: number) => void;
}

/** One generated token. */
export interface GeneratedToken {
  /** Token id. */
  readonly id: number;
  /** Its index among the generated tokens (0 = first). */
  readonly index: number;
  /** Text completed by this token: `""` while a character is incomplete. */
  readonly text: string;
}

/** Why a generation ended. */
export type StopReason = "stop-token" | "max-tokens" | "aborted";

/** Timings and counts of one generation. Times in milliseconds. */
export interface GenerationStats {
  /** Time the transformer took to get ready (`Transformer.loadMs`). */
  readonly loadMs: number;
  /** Tokens of the prompt (plus any pending token of the session) run in the prefill. */
  readonly promptTokens: number;
  /** Tokens yielded (the stop token is not counted). */
  readonly generatedTokens: number;
  /** Time of the prefill forward pass (until its logits are ready). */
  readonly prefillMs: number;
  /** `promptTokens` per second of prefill. */
  readonly prefillTokensPerSecond: number;
  /** Time of the one-token forward passes after the first token. */
  readonly decodeMs: number;
  /** One-token forward passes per second. */
  readonly decodeTokensPerSecond: number;
  /** From the start of the generation to the first token (prefill plus sampling). */
  readonly timeToFirstTokenMs: number;
}

/**
 * Starts generating after `prompt` in `session`. Nothing runs until the result is iterated;
 * the prompt is encoded and checked against the context length right away.
 *
 * @param session The conversation to continue (its KV cache and position).
 * @param prompt Text (needs `options.tokenizer`) or token ids; may be empty when the session
 *   has a pending token.
 * @param options Limits, stop tokens, sampler, callbacks.
 * @returns The generation: iterate it for tokens, then read `stats` and `stopReason`.
 * @throws {ContextError} When the prompt plus `maxNewTokens` do not fit in the context.
 * @throws {UsageError} When a text prompt comes without a tokenizer, or `maxNewTokens` is
 *   not a positive whole number.
 */
export function generate(
  session: Session,
  prompt: string | readonly number[],
  options: GenerateOptions = {},
): Generation {
  let promptIds: readonly number[];
  if (typeof prompt === "string") {
    if (options.tokenizer === undefined) {
      throw new UsageError("expected a tokenizer to encode a text prompt, found none", {
        fix: "pass options.tokenizer, or pass the prompt as token ids",
      });
    }
    promptIds = options.tokenizer.encode(prompt, {
      bos: options.bos ?? session.tokens.length === 0,
    });
  } else {
    promptIds = [...prompt];
  }
  const used = session.tokens.length + promptIds.length;
  const context = session.model.contextLength;
  if (used - session.position === 0) {
    throw new UsageError("expected a prompt of at least one token, found an empty prompt");
  }
  if (used >= context) {
    throw new ContextError(
      `expected a prompt shorter than the context of ${context} tokens, found ` +
        `${used} tokens (${promptIds.length} of the prompt, ${session.tokens.length} before it)`,
      { fix: "shorten the prompt, start a new conversation, or raise the context length" },
    );
  }
  const maxNewTokens = options.maxNewTokens ?? context - used;
  if (!Number.isSafeInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new UsageError(`expected a positive whole number of new tokens, found ${maxNewTokens}`);
  }
  if (used + maxNewTokens > context) {
    throw new ContextError(
      `expected the prompt plus new tokens to fit the context of ${context} tokens, found ` +
        `${used} + ${maxNewTokens} = ${used + maxNewTokens}`,
      {
        fix: `ask for at most ${context - used} new tokens, or raise the context length`,
      },
    );
  }
  return new Generation(session, promptIds, maxNewTokens, options);
}

/** A running generation: an async iterable of tokens, with its statistics. */
export class Generation implements AsyncIterable<GeneratedToken> {
  /** Token ids of the prompt. */
  readonly promptIds: readonly number[];

  #stopReason: StopReason | null = null;
  #stopToken: number | null = null;
  #ids: number[] = [];
  #text = "";
  #session: Session;
  #maxNewTokens: number;
  #options: GenerateOptions;
  #started = false;
  #stats = {
    promptTokens: 0,
    prefillMs: 0,
    decodeMs: 0,
    decodeSteps: 0,
    timeToFirstTokenMs: 0,
  };

  /** Use {@linkcode generate}. */
  constructor(
    session: Session,
    promptIds: readonly number[],
    maxNewTokens: number,
    options: GenerateOptions,
  ) {
    this.#session = session;
    this.promptIds = promptIds;
    this.#maxNewTokens = maxNewTokens;
    this.#options = options;
  }

  /**
   * Why it ended (`null` while running): a stop token, `maxNewTokens`, or `"aborted"` (the
   * signal fired, or the consumer stopped iterating early).
   */
  get stopReason(): StopReason | null {
    return this.#stopReason;
  }

  /** The stop token that ended it, if one did (it is not among the yielded tokens). */
  get stopToken(): number | null {
    return this.#stopToken;
  }

  /** Every generated id so far (without the stop token). */
  get ids(): readonly number[] {
    return this.#ids;
  }

  /** All text so far: the concatenated `text` of the yielded tokens. */
  get text(): string {
    return this.#text;
  }

  /** Counts and speeds so far (final once iteration ends). */
  get stats(): GenerationStats {
    const s = this.#stats;
    return {
      loadMs: this.#session.model.loadMs,
      promptTokens: s.promptTokens,
      generatedTokens: this.#ids.length,
      prefillMs: s.prefillMs,
      prefillTokensPerSecond: perSecond(s.promptTokens, s.prefillMs),
      decodeMs: s.decodeMs,
      decodeTokensPerSecond: perSecond(s.decodeSteps, s.decodeMs),
      timeToFirstTokenMs: s.timeToFirstTokenMs,
    };
  }

  /** Runs the generation; can be iterated once. */
  [Symbol.asyncIterator](): AsyncIterator<GeneratedToken> {
    if (this.#started) throw new UsageError("expected to iterate a generation once, found twice");
    this.#started = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<GeneratedToken> {
    const session = this.#session, options = this.#options;
    const sampler = options.sampler ?? greedySampler;
    const stops = new Set(options.stopTokens ?? DEFAULT_STOP_TOKENS);
    const forward = { onLayer: options.onLayer, signal: options.signal };
    const utf8 = new Utf8Stream();
    const started = performance.now();
    const s = this.#stats;
    s.promptTokens = session.tokens.length - session.position + this.promptIds.length;
    try {
      let logits = await session.feed(this.promptIds, forward);
      s.prefillMs = performance.now() - started;
      for (let step = 0;; step++) {
        options.onLogits?.(logits, step);
        const id = sampler.sample(logits);
        if (step === 0) s.timeToFirstTokenMs = performance.now() - started;
        session.append(id);
        if (stops.has(id)) {
          this.#stopReason = "stop-token";
          this.#stopToken = id;
          break;
        }
        const text = options.tokenizer ? utf8.push(options.tokenizer.tokenBytes(id)) : "";
        this.#ids.push(id);
        this.#text += text;
        yield { id, index: step, text };
        if (this.#ids.length >= this.#maxNewTokens) {
          this.#stopReason = "max-tokens";
          break;
        }
        const stepStart = performance.now();
        logits = await session.feed([], forward);
        s.decodeMs += performance.now() - stepStart;
        s.decodeSteps++;
      }
    } catch (error) {
      if (!options.signal?.aborted) throw error;
      this.#stopReason = "aborted";
    } finally {
      this.#stopReason ??= "aborted"; // the consumer stopped iterating early
    }
  }
}

function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : 0;
}
