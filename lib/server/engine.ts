/**
 * What the server does with the model: turns a request into prompt tokens (the Llama 3.1 chat
 * template, or a text prompt), checks that it fits the context, waits for its turn in the
 * {@linkcode RequestQueue}, takes a session from the {@linkcode PromptCache} so that only the
 * new tokens are prefilled, and generates with the engine's own sampler, stop tokens,
 * UTF-8 streaming and stop strings, handing out the text piece by piece.
 *
 * @example
 * ```ts
 * import { Engine, type ServedModel } from "./engine.ts";
 * import { parseChatRequest } from "./openai_request.ts";
 *
 * declare const model: ServedModel;
 * const engine = new Engine(model, { maxWaiting: 8 });
 * const request = parseChatRequest({ messages: [{ role: "user", content: "Hi" }] });
 * const prompt = engine.chatPrompt(request.messages);
 * const result = await engine.run(prompt, request, AbortSignal.timeout(60_000), (text) => {
 *   console.log(text);
 * });
 * console.log(result.finishReason, result.usage);
 * ```
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { generate } from "../generate/generate.ts";
import { createSampler } from "../generate/sampler.ts";
import { StopStrings } from "../generate/stop_strings.ts";
import type { Transformer } from "../model/transformer.ts";
import { type ChatMessage, encodeChat } from "../tokenizer/chat_template.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { ApiError } from "./api_error.ts";
import { ServerMetrics } from "./metrics.ts";
import type { GenerationRequest } from "./openai_request.ts";
import type { FinishReason, Usage } from "./openai_response.ts";
import { PromptCache } from "./prompt_cache.ts";
import { RequestQueue } from "./request_queue.ts";

/** The loaded model the server answers with. */
export interface ServedModel {
  /** The name in `/v1/models` and in every answer. */
  readonly name: string;
  readonly tokenizer: Tokenizer;
  /** Made with one KV cache per kept session (`kvCaches`). */
  readonly transformer: Transformer;
  /** Ids that end an answer (the folder's generation config), or the engine's defaults. */
  readonly stopTokens?: readonly number[];
}

/** Options of {@linkcode Engine}. */
export interface EngineOptions {
  /** Most requests waiting while one runs. */
  readonly maxWaiting: number;
}

/** How a generation went. */
export interface EngineResult {
  /** The whole answer text (stop string excluded). */
  readonly text: string;
  /** `stop` (stop token or string) or `length` (the token limit); null when aborted. */
  readonly finishReason: FinishReason | null;
  readonly usage: Usage;
  /** From the turn starting to the first token. */
  readonly timeToFirstTokenMs: number;
  /** Milliseconds waited in the queue. */
  readonly queuedMs: number;
}

/** The model, its queue, its prompt cache and its counters. */
export class Engine {
  readonly model: ServedModel;
  readonly queue: RequestQueue;
  readonly cache: PromptCache;
  readonly metrics: ServerMetrics = new ServerMetrics();

  /**
   * @param model The loaded model.
   * @param options The queue bound.
   */
  constructor(model: ServedModel, options: EngineOptions) {
    this.model = model;
    this.queue = new RequestQueue(options.maxWaiting);
    this.cache = new PromptCache(model.transformer);
  }

  /** Positions of one session's context. */
  get contextLength(): number {
    return this.model.transformer.contextLength;
  }

  /**
   * The prompt of a chat: `<|begin_of_text|>`, every message in the Llama 3.1 template, and an
   * open assistant header.
   *
   * @param messages The dialog.
   * @returns Token ids.
   */
  chatPrompt(messages: readonly ChatMessage[]): number[] {
    return encodeChat(this.model.tokenizer, messages, { bos: true });
  }

  /**
   * The prompt of a text completion: `<|begin_of_text|>` and the text, or the ids as given.
   *
   * @param prompt Text or token ids.
   * @returns Token ids.
   * @throws {ApiError} 400 for ids outside the vocabulary.
   */
  completionPrompt(prompt: string | readonly number[]): number[] {
    if (typeof prompt === "string") return this.model.tokenizer.encode(prompt, { bos: true });
    const vocab = this.model.transformer.config.vocabSize;
    const bad = prompt.find((id) => id >= vocab);
    if (bad !== undefined) {
      throw ApiError.badRequest(
        `prompt: expected token ids from 0 to ${vocab - 1}, found ${bad}`,
        "prompt",
      );
    }
    return [...prompt];
  }

  /**
   * Checks that the prompt and the requested tokens fit one session's context.
   *
   * @param promptIds The prompt.
   * @param maxTokens Requested new tokens, if any.
   * @param promptParam The request field of the prompt (`"messages"` or `"prompt"`).
   * @throws {ApiError} 400 `context_length_exceeded` with both numbers.
   */
  checkFits(promptIds: readonly number[], maxTokens: number | undefined, promptParam: string) {
    const context = this.contextLength;
    if (promptIds.length >= context) {
      throw ApiError.badRequest(
        `${promptParam}: the prompt has ${promptIds.length} tokens, the context holds ` +
          `${context} (one more is needed for the answer); shorten it or start the server ` +
          `with a larger --context`,
        promptParam,
        "context_length_exceeded",
      );
    }
    if (maxTokens !== undefined && promptIds.length + maxTokens > context) {
      throw ApiError.badRequest(
        `max_tokens: the prompt has ${promptIds.length} tokens and ${maxTokens} new ones ` +
          `were asked for, ${promptIds.length + maxTokens} in all, over the context of ` +
          `${context}; ask for at most ${context - promptIds.length}`,
        "max_tokens",
        "context_length_exceeded",
      );
    }
  }

  /**
   * Waits for the model, then generates after `promptIds`.
   *
   * @param promptIds The whole prompt (checked with {@linkcode Engine.checkFits}).
   * @param request Sampling, limit and stop strings.
   * @param signal Aborts the wait or the generation at once (the client went away).
   * @param onText Receives each piece of text as soon as it is safe to show.
   * @param onStart Called when the request's turn comes (before any model work): a streamed
   *   answer sends its headers then, so that a full queue can still answer 503.
   * @returns The text, why it ended and the token counts.
   * @throws {ApiError} 503 when the queue is full; the signal's reason when aborted waiting.
   */
  async run(
    promptIds: readonly number[],
    request: GenerationRequest,
    signal: AbortSignal,
    onText: (text: string) => void,
    onStart?: () => void,
  ): Promise<EngineResult> {
    const queued = performance.now();
    using _turn = await this.queue.acquire(signal);
    const queuedMs = performance.now() - queued;
    onStart?.();
    const { session, cachedTokens, newTokens } = this.cache.take(promptIds);
    const generation = generate(session, newTokens, {
      tokenizer: this.model.tokenizer,
      maxNewTokens: request.maxTokens ?? this.contextLength - promptIds.length,
      stopTokens: this.model.stopTokens,
      sampler: createSampler({
        temperature: request.temperature,
        topP: request.topP,
        topK: request.topK,
        seed: request.seed,
      }),
      signal,
    });
    const stops = new StopStrings(request.stop);
    let text = "";
    for await (const token of generation) {
      const out = stops.push(token.text);
      if (out.text !== "") {
        text += out.text;
        onText(out.text);
      }
      if (out.stopped) break;
      // Let the event loop send this piece and notice a client that left: with one thread the
      // forward pass never waits for a worker, so its awaits alone would not yield.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const rest = stops.flush();
    if (rest !== "") {
      text += rest;
      onText(rest);
    }
    const stats = generation.stats;
    const usage: Usage = {
      promptTokens: promptIds.length,
      completionTokens: stats.generatedTokens,
      cachedTokens,
    };
    this.metrics.countGeneration({
      promptTokens: promptIds.length,
      cachedTokens,
      generatedTokens: stats.generatedTokens,
      prefillTokens: stats.promptTokens,
      prefillMs: stats.prefillMs,
      decodeSteps: Math.round((stats.decodeTokensPerSecond * stats.decodeMs) / 1000),
      decodeMs: stats.decodeMs,
    });
    const finishReason: FinishReason | null = stops.stopped ||
        generation.stopReason === "stop-token"
      ? "stop"
      : generation.stopReason === "max-tokens"
      ? "length"
      : null;
    return { text, finishReason, usage, timeToFirstTokenMs: stats.timeToFirstTokenMs, queuedMs };
  }
}
