/**
 * A conversation with a model: the tokens so far and how many of them the KV cache holds.
 *
 * Each forward pass only processes tokens the cache does not hold yet, so a chat appends a new
 * turn at the current position without re-reading earlier turns. The last token a generation
 * samples is not run through the model until the conversation continues (nothing needs its
 * keys and values before then): it is in {@linkcode Session.tokens} but not yet in the cache,
 * and the next {@linkcode Session.feed} processes it first.
 *
 * Each KV cache of a transformer serves one session at a time: creating a session on a cache
 * retires that cache's previous session. A transformer made with several `kvCaches` keeps that
 * many conversations (a server's sessions); {@linkcode Session.truncate} drops the end of one,
 * so a new prompt that starts with the same tokens reuses the cached keys and values.
 *
 * @example
 * ```ts
 * import { Session } from "./session.ts";
 * import type { Transformer } from "../model/transformer.ts";
 *
 * declare const model: Transformer;
 * const session = new Session(model);
 * const logits = await session.feed([128000, 9906]); // prefill
 * session.append(11); // a sampled token, run on the next feed
 * await session.feed([]); // runs it
 * session.reset(); // start over
 * ```
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { ForwardOptions, Transformer } from "../model/transformer.ts";

const current = new WeakMap<Transformer, Map<number, Session>>();

/** Options of the {@linkcode Session} constructor. */
export interface SessionOptions {
  /** Which of the transformer's KV caches the session uses. Default 0. */
  kvCache?: number;
}

/** The tokens of one conversation and the KV cache positions they occupy. */
export class Session {
  /** The model whose KV cache this session uses. */
  readonly model: Transformer;
  /** Index of the model's KV cache the session uses. */
  readonly kvCache: number;
  #tokens: number[] = [];
  #position = 0;

  /**
   * Starts an empty conversation on `model`; the previous session on the same KV cache stops
   * working.
   *
   * @param model The transformer.
   * @param options Which KV cache to use.
   * @throws {UsageError} When the model has no such KV cache.
   */
  constructor(model: Transformer, options: SessionOptions = {}) {
    const kvCache = options.kvCache ?? 0;
    if (!Number.isSafeInteger(kvCache) || kvCache < 0 || kvCache >= model.kvCaches) {
      throw new UsageError(
        `expected a KV cache index from 0 to ${model.kvCaches - 1}, found ${kvCache}`,
        { fix: "create the transformer with more kvCaches" },
      );
    }
    this.model = model;
    this.kvCache = kvCache;
    let sessions = current.get(model);
    if (!sessions) current.set(model, sessions = new Map());
    sessions.set(kvCache, this);
  }

  /** Every token of the conversation so far. */
  get tokens(): readonly number[] {
    return this.#tokens;
  }

  /** How many of {@linkcode Session.tokens} the KV cache holds (the next position to fill). */
  get position(): number {
    return this.#position;
  }

  /** Positions of the context not yet taken by {@linkcode Session.tokens}. */
  get remaining(): number {
    return this.model.contextLength - this.#tokens.length;
  }

  /**
   * Appends `tokens` and runs every token the cache does not hold yet through the model.
   * If the pass fails or is aborted, the session is as it was before the call.
   *
   * @param tokens Tokens to add (may be empty when a token is pending).
   * @param options Progress callback and abort signal for the forward pass.
   * @returns Logits after the last token (a view the next forward pass overwrites).
   * @throws {ContextError} When the tokens do not fit in the model's context.
   * @throws {UsageError} When there is nothing to run.
   */
  async feed(tokens: readonly number[], options: ForwardOptions = {}): Promise<Float32Array> {
    this.#checkCurrent();
    const run = this.#tokens.slice(this.#position).concat(tokens);
    if (run.length === 0) {
      throw new UsageError("expected tokens to run through the model, found none", {
        fix: "pass at least one token (a prompt needs at least <|begin_of_text|>)",
      });
    }
    const logits = await this.model.forward(run, this.#position, {
      ...options,
      kvCache: this.kvCache,
    });
    this.#tokens.push(...tokens);
    this.#position = this.#tokens.length;
    return logits;
  }

  /**
   * Appends a token without running it (a sampled token); the next feed runs it first.
   *
   * @param token A token id.
   */
  append(token: number): void {
    this.#checkCurrent();
    this.#tokens.push(token);
  }

  /** Forgets the conversation; the next feed starts at position 0. */
  reset(): void {
    this.truncate(0);
  }

  /**
   * Keeps only the first `length` tokens; the cache keeps theirs, and the next feed continues
   * after them (a prompt cache: a new prompt sharing this start runs only its new tokens).
   *
   * @param length Tokens to keep, from 0 to `tokens.length`.
   * @throws {UsageError} When `length` is out of that range.
   */
  truncate(length: number): void {
    this.#checkCurrent();
    if (!Number.isSafeInteger(length) || length < 0 || length > this.#tokens.length) {
      throw new UsageError(
        `expected to keep 0 to ${this.#tokens.length} tokens of the session, found ${length}`,
      );
    }
    this.#tokens.length = length;
    this.#position = Math.min(this.#position, length);
  }

  #checkCurrent(): void {
    if (current.get(this.model)?.get(this.kvCache) !== this) {
      throw new UsageError(
        "expected the transformer's current session, found one that a newer session replaced",
        { fix: "use the newest Session created on this transformer" },
      );
    }
  }
}
