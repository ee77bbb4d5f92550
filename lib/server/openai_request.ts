/**
 * Reading OpenAI request bodies: `POST /v1/chat/completions` and `POST /v1/completions`.
 * Each field is checked once, and a bad one becomes a 400 {@linkcode ApiError} whose `param`
 * names it. Fields this server does not use (`user`, `frequency_penalty`, `logit_bias`, …)
 * are accepted and ignored, as clients send them routinely; `n` other than 1 is refused.
 *
 * @example
 * ```ts
 * import { parseChatRequest } from "./openai_request.ts";
 *
 * const request = parseChatRequest({
 *   messages: [{ role: "user", content: "Hi" }],
 *   max_tokens: 16,
 *   stop: "\n",
 * });
 * console.log(request.maxTokens, request.stop); // 16 ["\n"]
 * ```
 *
 * @module
 */

import type { ChatMessage } from "../tokenizer/chat_template.ts";
import { ApiError } from "./api_error.ts";

/** Sampling, limits and streaming: what both endpoints share. */
export interface GenerationRequest {
  /** The `model` field as sent (informational: the server serves one model). */
  readonly model: string | undefined;
  /** 0 = greedy. OpenAI's default is 1. */
  readonly temperature: number;
  /** Nucleus size in (0, 1]; 1 = off. */
  readonly topP: number;
  /** Top-k (an extension, as in llama.cpp's server); 0 = off. */
  readonly topK: number;
  /** Seed of the sampler; absent = random. */
  readonly seed: number | undefined;
  /** `max_completion_tokens` or `max_tokens`; absent = until the context is full. */
  readonly maxTokens: number | undefined;
  /** Stop strings (at most 4). */
  readonly stop: readonly string[];
  /** Answer as server-sent events. */
  readonly stream: boolean;
  /** `stream_options.include_usage`: one last chunk carries the usage. */
  readonly includeUsage: boolean;
}

/** A chat completion request. */
export interface ChatRequest extends GenerationRequest {
  /** The dialog, oldest first (`developer` messages become `system`). */
  readonly messages: readonly ChatMessage[];
}

/** A text completion request. */
export interface CompletionRequest extends GenerationRequest {
  /** The prompt: text, or token ids. */
  readonly prompt: string | readonly number[];
}

type Json = Record<string, unknown>;

const ROLES: Readonly<Record<string, ChatMessage["role"]>> = {
  system: "system",
  developer: "system",
  user: "user",
  assistant: "assistant",
};

/**
 * Checks a chat completion body.
 *
 * @param body The parsed JSON body.
 * @returns The request.
 * @throws {ApiError} 400 naming the first bad field.
 */
export function parseChatRequest(body: unknown): ChatRequest {
  const json = object(body);
  const messages = json.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw bad("messages", "a non-empty array of messages", messages);
  }
  return {
    ...generationFields(json),
    messages: messages.map((message, i) => chatMessage(message, `messages[${i}]`)),
  };
}

/**
 * Checks a text completion body.
 *
 * @param body The parsed JSON body.
 * @returns The request.
 * @throws {ApiError} 400 naming the first bad field.
 */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  const json = object(body);
  let prompt = json.prompt;
  // OpenAI accepts a list of prompts; one prompt in a list is the same request.
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === "string") {
    prompt = prompt[0];
  }
  const tokens = Array.isArray(prompt) && prompt.length > 0 &&
    prompt.every((id) => Number.isSafeInteger(id) && id >= 0);
  if (!(typeof prompt === "string" && prompt !== "") && !tokens) {
    throw bad("prompt", "a non-empty string (or one list of token ids)", prompt);
  }
  return { ...generationFields(json), prompt: prompt as string | number[] };
}

function object(body: unknown): Json {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, `expected a JSON object as the request body, found ${kind(body)}`);
  }
  return body as Json;
}

function generationFields(json: Json): GenerationRequest {
  const n = json.n;
  if (n !== undefined && n !== null && n !== 1) throw bad("n", "1 (one choice per request)", n);
  if (json.model !== undefined && typeof json.model !== "string") {
    throw bad("model", "a string", json.model);
  }
  const maxCompletion = integer(json, "max_completion_tokens", 1);
  const streamOptions = json.stream_options;
  if (
    streamOptions !== undefined && streamOptions !== null &&
    (typeof streamOptions !== "object" || Array.isArray(streamOptions))
  ) {
    throw bad("stream_options", "an object", streamOptions);
  }
  const includeUsage = (streamOptions as Json | null | undefined)?.include_usage;
  if (includeUsage !== undefined && includeUsage !== null && typeof includeUsage !== "boolean") {
    throw bad("stream_options.include_usage", "true or false", includeUsage);
  }
  const stream = json.stream;
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    throw bad("stream", "true or false", stream);
  }
  return {
    model: json.model as string | undefined,
    temperature: number(json, "temperature", 0, 2) ?? 1,
    topP: number(json, "top_p", 0, 1, true) ?? 1,
    topK: integer(json, "top_k", 0) ?? 0,
    seed: integer(json, "seed", Number.MIN_SAFE_INTEGER),
    maxTokens: maxCompletion ?? integer(json, "max_tokens", 1),
    stop: stopStrings(json.stop),
    stream: stream === true,
    includeUsage: includeUsage === true,
  };
}

function chatMessage(value: unknown, param: string): ChatMessage {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(param, "an object with role and content", value);
  }
  const { role, content } = value as Json;
  const mapped = typeof role === "string" ? ROLES[role] : undefined;
  if (mapped === undefined) {
    throw bad(`${param}.role`, "system, developer, user or assistant", role);
  }
  return { role: mapped, content: messageText(content, `${param}.content`) };
}

/** A message's content: a string, or a list of text parts (joined). */
function messageText(content: unknown, param: string): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) throw bad(param, "a string or a list of text parts", content);
  return content.map((part, i) => {
    const { type, text } = (typeof part === "object" && part !== null ? part : {}) as Json;
    if (type !== "text") {
      throw bad(`${param}[${i}].type`, '"text" (this model reads text only)', type);
    }
    if (typeof text !== "string") throw bad(`${param}[${i}].text`, "a string", text);
    return text;
  }).join("");
}

function stopStrings(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === "string" ? [stop] : stop;
  if (
    !Array.isArray(list) || list.length > 4 ||
    !list.every((s) => typeof s === "string" && s !== "")
  ) {
    throw bad("stop", "a non-empty string or a list of up to 4 of them", stop);
  }
  return list;
}

function number(
  json: Json,
  name: string,
  min: number,
  max: number,
  minExclusive = false,
): number | undefined {
  const value = json[name];
  if (value === undefined || value === null) return undefined;
  if (
    typeof value !== "number" || !Number.isFinite(value) || value > max ||
    (minExclusive ? value <= min : value < min)
  ) {
    throw bad(name, `a number from ${min}${minExclusive ? " (exclusive)" : ""} to ${max}`, value);
  }
  return value;
}

function integer(json: Json, name: string, min: number): number | undefined {
  const value = json[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw bad(name, `a whole number of at least ${min}`, value);
  }
  return value;
}

function bad(param: string, expected: string, found: unknown): ApiError {
  return ApiError.badRequest(`${param}: expected ${expected}, found ${kind(found)}`, param);
}

/** A short description of a JSON value for a message. */
function kind(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}…` : text;
}
