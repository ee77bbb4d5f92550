/**
 * A conversation with a model: the tokens so far and how many of them the KV cache holds.
 *
 * Each forward pass only processes tokens the cache does not hold yet, so a chat appends a new
 * turn at the current position without re-reading earlier turns. The last token a generation
 * samples is not run through the model until the conversation continues (nothing needs its
 * keys and values before then): it is in {@linkcode Session.tokens} but not yet in the cache,
 * and the next {@linkcode Session.feed} processes it first.
 *
 * A transformer has one KV cache, so it serves one session at a time: creating a session
 * retires the transformer's previous one.
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

const current = new WeakMap<Transformer, Session>();

/** The tokens of one conversation and the KV cache positions they occupy. */
export class Session {
  /** The model whose KV cache this session uses. */
  readonly model: Transformer;
  #tokens: number[] = [];
  #position = 0;

  /**
   * Starts an empty conversation on `model`; the model's previous session stops working.
   *
   * @param model The transformer.
   */
  constructor(model: Transformer) {
    this.model = model;
    current.set(model, this);
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
    const logits = await this.model.forward(run, this.#position, options);
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
    this.#checkCurrent();
    this.#tokens = [];
    this.#position = 0;
  }

  #checkCurrent(): void {
    if (current.get(this.model) !== this) {
      throw new UsageError(
        "expected the transformer's current session, found one that a newer session replaced",
        { fix: "use the newest Session created on this transformer" },
      );
    }
  }
}
