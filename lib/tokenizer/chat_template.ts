/**
 * The Llama 3.1 chat format, as token ids. A dialog is
 *
 * ```text
 * <|begin_of_text|>
 * <|start_header_id|>system<|end_header_id|>\n\n You are terse.<|eot_id|>
 * <|start_header_id|>user<|end_header_id|>\n\n Hi!<|eot_id|>
 * <|start_header_id|>assistant<|end_header_id|>\n\n        <- left open: the model writes here
 * ```
 *
 * (without the line breaks and spaces shown between the parts). This follows `ChatFormat` in
 * Meta's llama-models (Llama 3.1): the role name and `\n\n` are encoded as ordinary text and
 * the content as is, not stripped. Content is never scanned for special tokens, so a user who
 * types `<|eot_id|>` gets those characters, not the end of a turn.
 *
 * A chat that keeps earlier turns in the model's cache encodes only the new turn:
 * `encodeChat(tok, [{ role: "user", content }], { bos: false })`.
 *
 * @example
 * ```ts
 * import { encodeChat } from "./chat_template.ts";
 * import type { Tokenizer } from "./tokenizer.ts";
 *
 * declare const tok: Tokenizer;
 * encodeChat(tok, [{ role: "user", content: "This is a test sentence." }]);
 * // [128000, 128006, 882, 128007, 271, 2028, 374, 264, 1296, 11914, 13, 128009,
 * //  128006, 78191, 128007, 271]
 * ```
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** One message of a chat. `ipython` carries a tool's output back to the model. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "ipython";
  content: string;
}

/** Options of {@linkcode encodeChat}. */
export interface ChatOptions {
  /** Start with `<|begin_of_text|>`. Default true; false to continue a cached chat. */
  bos?: boolean;
  /** End with an open assistant header for the model to complete. Default true. */
  openAssistant?: boolean;
}

const ROLES: ReadonlySet<string> = new Set(["system", "user", "assistant", "ipython"]);

/**
 * Token ids of a header: `<|start_header_id|>role<|end_header_id|>\n\n`.
 *
 * @param tok The tokenizer.
 * @param role The speaker.
 * @returns The header's ids.
 */
export function encodeHeader(tok: Tokenizer, role: ChatMessage["role"]): number[] {
  if (!ROLES.has(role)) {
    throw new UsageError(
      `unknown chat role ${JSON.stringify(role)}; expected system, user, assistant or ipython`,
    );
  }
  return [
    tok.specialId("<|start_header_id|>"),
    ...tok.encode(role),
    tok.specialId("<|end_header_id|>"),
    ...tok.encode("\n\n"),
  ];
}

/**
 * The messages of a conversation's first turn: the system prompt (when not empty), then the
 * user's message.
 *
 * @param system The system prompt; `""` or undefined for none.
 * @param prompt The user's message.
 * @returns One or two messages for {@linkcode encodeChat}.
 */
export function firstTurn(system: string | undefined, prompt: string): ChatMessage[] {
  const user: ChatMessage = { role: "user", content: prompt };
  return system ? [{ role: "system", content: system }, user] : [user];
}

/**
 * Token ids of a Llama 3.1 chat: `<|begin_of_text|>` (optional), then for each message
 * `<|start_header_id|>role<|end_header_id|>\n\n` content `<|eot_id|>`, and (by default) an open
 * assistant header. Message content is ordinary text: special-token look-alikes stay text.
 *
 * @param tok The tokenizer.
 * @param messages The dialog so far, oldest first.
 * @param options `bos` (default true), `openAssistant` (default true).
 * @returns The token ids to feed the model.
 * @throws {UsageError} For an unknown role.
 */
export function encodeChat(
  tok: Tokenizer,
  messages: readonly ChatMessage[],
  options: ChatOptions = {},
): number[] {
  const ids: number[] = options.bos ?? true ? [tok.bosId] : [];
  for (const message of messages) {
    ids.push(...encodeHeader(tok, message.role));
    for (const id of tok.encode(message.content)) ids.push(id); // no spread: may be long
    ids.push(tok.eotId);
  }
  if (options.openAssistant ?? true) ids.push(...encodeHeader(tok, "assistant"));
  return ids;
}
