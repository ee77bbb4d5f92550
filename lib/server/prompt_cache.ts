/**
 * The prompt cache: a few {@linkcode Session}s kept between requests, each on its own KV
 * cache. A chat client resends the whole history each turn, so the new prompt usually starts
 * with the tokens a session already holds (the previous prompt and answer): the session is cut
 * back to that common start and only the new tokens are run through the model.
 *
 * {@linkcode PromptCache.take} picks the session with the longest common start; with none in
 * common it takes the one used least recently, so `n` sessions keep `n` conversations warm.
 *
 * @example
 * ```ts
 * import { PromptCache } from "./prompt_cache.ts";
 * import type { Transformer } from "../model/transformer.ts";
 *
 * declare const model: Transformer; // created with kvCaches: 2
 * const cache = new PromptCache(model);
 * const { session, cachedTokens, newTokens } = cache.take([128000, 9906, 1917]);
 * // generate(session, newTokens, ...) runs only the tokens after the cached ones
 * ```
 *
 * @module
 */

import { Session } from "../generate/session.ts";
import type { Transformer } from "../model/transformer.ts";

/** What {@linkcode PromptCache.take} hands out. */
export interface CachedPrompt {
  /** The session to generate in, already cut back to the cached start. */
  readonly session: Session;
  /** Prompt tokens whose keys and values are in the session's cache. */
  readonly cachedTokens: number;
  /** The rest of the prompt, to feed (never empty: the last token gives the logits). */
  readonly newTokens: readonly number[];
}

/**
 * Length of the common start of two token lists.
 *
 * @param a Token ids.
 * @param b Token ids.
 * @returns How many leading ids are equal.
 */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Sessions on the model's KV caches, reused by common prompt start. */
export class PromptCache {
  readonly #sessions: Session[];
  /** Last use of each session (a counter, for least-recently-used). */
  readonly #lastUse: number[];
  #clock = 0;

  /**
   * One session per KV cache of `model`.
   *
   * @param model The transformer (its `kvCaches` sets how many conversations stay cached).
   */
  constructor(model: Transformer) {
    this.#sessions = Array.from(
      { length: model.kvCaches },
      (_, i) => new Session(model, { kvCache: i }),
    );
    this.#lastUse = this.#sessions.map(() => 0);
  }

  /** How many sessions are kept. */
  get size(): number {
    return this.#sessions.length;
  }

  /** Positions of the KV caches in use, over all sessions. */
  get usedPositions(): number {
    return this.#sessions.reduce((sum, s) => sum + s.tokens.length, 0);
  }

  /**
   * Picks the session for `prompt` and cuts it back to what `prompt` shares with it.
   *
   * @param prompt The whole prompt's token ids (at least one).
   * @returns The session, the cached count and the tokens still to run.
   */
  take(prompt: readonly number[]): CachedPrompt {
    let best = -1, bestShared = 0;
    for (let i = 0; i < this.#sessions.length; i++) {
      // Only tokens whose keys and values are computed count (not a pending sampled token).
      const session = this.#sessions[i];
      const shared = Math.min(commonPrefixLength(session.tokens, prompt), session.position);
      if (
        shared > bestShared ||
        (shared === bestShared && (best === -1 || this.#lastUse[i] < this.#lastUse[best]))
      ) {
        best = i;
        bestShared = shared;
      }
    }
    const session = this.#sessions[best];
    this.#lastUse[best] = ++this.#clock;
    // At least the last prompt token runs: its logits pick the first new token.
    const cachedTokens = Math.min(bestShared, prompt.length - 1);
    session.truncate(cachedTokens);
    return { session, cachedTokens, newTokens: prompt.slice(cachedTokens) };
  }
}
