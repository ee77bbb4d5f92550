/**
 * The JSON objects this server answers with, in OpenAI's shapes: a chat completion and its
 * streamed chunks, a text completion and its chunks, usage, the model list.
 *
 * @example
 * ```ts
 * import { chatCompletion, completionId } from "./openai_response.ts";
 *
 * const body = chatCompletion({
 *   id: completionId("chatcmpl"),
 *   created: Math.floor(Date.now() / 1000),
 *   model: "llama",
 * }, "Hi 👋", "stop", { promptTokens: 12, completionTokens: 3, cachedTokens: 0 });
 * ```
 *
 * @module
 */

/** OpenAI's `finish_reason`: a stop token or stop string, or the token limit. */
export type FinishReason = "stop" | "length";

/** Token counts of one request. */
export interface Usage {
  /** Tokens of the prompt (cached ones included). */
  readonly promptTokens: number;
  /** Tokens generated. */
  readonly completionTokens: number;
  /** Prompt tokens whose keys and values came from the prompt cache. */
  readonly cachedTokens: number;
}

/** What every object of one answer shares. */
export interface AnswerIdentity {
  /** `chatcmpl-…` or `cmpl-…`. */
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  /** The model's name. */
  readonly model: string;
}

/** OpenAI's `system_fingerprint`: names this server. */
export const SYSTEM_FINGERPRINT = "llama-bolts";

/**
 * A fresh answer id.
 *
 * @param prefix `"chatcmpl"` or `"cmpl"`.
 * @returns `prefix-` and 24 random hex digits.
 */
export function completionId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * OpenAI's `usage` object.
 *
 * @param usage The counts.
 * @returns `{ prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details }`.
 */
export function usageJson(usage: Usage): Record<string, unknown> {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

/**
 * A whole chat completion (`stream: false`).
 *
 * @param identity Id, time, model.
 * @param text The assistant's answer.
 * @param finishReason Why it ended.
 * @param usage Token counts.
 * @returns The `chat.completion` object.
 */
export function chatCompletion(
  identity: AnswerIdentity,
  text: string,
  finishReason: FinishReason,
  usage: Usage,
): Record<string, unknown> {
  return {
    ...header(identity, "chat.completion"),
    choices: [{
      index: 0,
      message: { role: "assistant", content: text, refusal: null },
      logprobs: null,
      finish_reason: finishReason,
    }],
    usage: usageJson(usage),
  };
}

/**
 * One streamed chat chunk: the role (first), a piece of text, or the finish reason (last).
 *
 * @param identity Id, time, model (the same in every chunk of an answer).
 * @param delta `{ role }`, `{ content }` or `{}`.
 * @param finishReason Set in the last chunk with a choice.
 * @returns The `chat.completion.chunk` object.
 */
export function chatChunk(
  identity: AnswerIdentity,
  delta: { role?: "assistant"; content?: string },
  finishReason: FinishReason | null = null,
): Record<string, unknown> {
  return {
    ...header(identity, "chat.completion.chunk"),
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
}

/**
 * The extra last chunk of `stream_options.include_usage`: no choices, the usage.
 *
 * @param identity Id, time, model.
 * @param object `"chat.completion.chunk"` or `"text_completion"`.
 * @param usage Token counts.
 * @returns The chunk.
 */
export function usageChunk(
  identity: AnswerIdentity,
  object: string,
  usage: Usage,
): Record<string, unknown> {
  return { ...header(identity, object), choices: [], usage: usageJson(usage) };
}

/**
 * A text completion, whole or one streamed piece (OpenAI uses the same object for both).
 *
 * @param identity Id, time, model.
 * @param text The completion, or the piece.
 * @param finishReason Why it ended (null in pieces before the end).
 * @param usage Token counts (whole answers only).
 * @returns The `text_completion` object.
 */
export function textCompletion(
  identity: AnswerIdentity,
  text: string,
  finishReason: FinishReason | null,
  usage?: Usage,
): Record<string, unknown> {
  return {
    ...header(identity, "text_completion"),
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
    ...(usage ? { usage: usageJson(usage) } : {}),
  };
}

/**
 * `GET /v1/models`.
 *
 * @param model The served model's name.
 * @param created Unix seconds when it was loaded.
 * @returns The model list.
 */
export function modelList(model: string, created: number): Record<string, unknown> {
  return {
    object: "list",
    data: [{ id: model, object: "model", created, owned_by: "llama-bolts" }],
  };
}

function header(identity: AnswerIdentity, object: string): Record<string, unknown> {
  return {
    id: identity.id,
    object,
    created: identity.created,
    model: identity.model,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}
