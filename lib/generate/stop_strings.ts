/**
 * Stop strings: end a generation when its text contains one of a few strings (OpenAI's
 * `stop`), without ever showing any part of the string.
 *
 * Text arrives in pieces (one token's worth at a time), and a stop string may span pieces, so
 * {@linkcode StopStrings.push} holds back the end of the text while it could still be the start
 * of a stop string, and releases it as soon as it cannot. Once a stop string appears, the text
 * before it is released and the rest is dropped.
 *
 * @example
 * ```ts
 * import { StopStrings } from "./stop_strings.ts";
 *
 * const stops = new StopStrings(["\nUser:"]);
 * stops.push("Sure.\n"); // { text: "Sure.", stopped: false } ("\n" held back)
 * stops.push("User: hi"); // { text: "", stopped: true }
 * ```
 *
 * @module
 */

/** What {@linkcode StopStrings.push} releases. */
export interface StopCheck {
  /** Text that is safe to show: it is not (the start of) a stop string. */
  readonly text: string;
  /** A stop string appeared: the generation should end; `text` is what came before it. */
  readonly stopped: boolean;
}

/** Watches streamed text for stop strings. */
export class StopStrings {
  readonly #stops: readonly string[];
  #held = "";
  #stopped = false;

  /**
   * @param stops The strings that end the text (empty strings are ignored).
   */
  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((stop) => stop.length > 0);
  }

  /** Whether a stop string has appeared. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Adds the next piece of text.
   *
   * @param piece Text that follows everything pushed before.
   * @returns The text that can be shown now, and whether a stop string appeared.
   */
  push(piece: string): StopCheck {
    if (this.#stopped) return { text: "", stopped: true };
    const text = this.#held + piece;
    let first = -1;
    for (const stop of this.#stops) {
      const at = text.indexOf(stop);
      if (at !== -1 && (first === -1 || at < first)) first = at;
    }
    if (first !== -1) {
      this.#stopped = true;
      this.#held = "";
      return { text: text.slice(0, first), stopped: true };
    }
    const keep = this.#partialLength(text);
    this.#held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep), stopped: false };
  }

  /**
   * Ends the text without a stop string: releases what was held back.
   *
   * @returns The held-back text ("" after a stop).
   */
  flush(): string {
    const held = this.#held;
    this.#held = "";
    return this.#stopped ? "" : held;
  }

  /** Length of the longest end of `text` that is a proper start of some stop string. */
  #partialLength(text: string): number {
    let longest = 0;
    for (const stop of this.#stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
