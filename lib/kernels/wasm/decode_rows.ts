/**
 * Which decode tile a block type runs on this processor, found by timing the first calls.
 *
 * With one token, a block kernel either takes tiles of `vectorRows` rows, one from each of that
 * many runs of its range (as many memory streams, as many independent chains of instructions),
 * or 1-row tiles, one row after another (one stream, and a small loop). Which is faster is not
 * the same everywhere, and by far: the 1B model's Q4_K_M decode ran 8.0 tokens/s with 1-row
 * K-quant tiles and 17.1 with 8-row ones on a Xeon (Sapphire Rapids), but 17.1 with 1-row and
 * 11.5 with 8-row on an AMD Zen 4 (EPYC), both with two threads. Both give the same results
 * (each row's sums are added in the same order in every tile), so each thread may simply time
 * both on its first decode calls, taking turns call by call so that both meet the same
 * matrices, and keep the faster.
 *
 * @example
 * ```ts
 * import { DecodeRowsPicker } from "./decode_rows.ts";
 *
 * const picker = new DecodeRowsPicker();
 * const oneRow = picker.next(); // true or false, in turns, until it has settled
 * picker.measured(oneRow, 0.12, 150_000); // that call's milliseconds and weight bytes
 * ```
 *
 * @module
 */

/** Calls of each form timed before choosing. */
const CALLS = 32;

/** Weight bytes of each form timed before choosing: calls of a few rows say little. */
const BYTES = 16 * 2 ** 20;

/** Picks, for one block type on one thread, between 1-row and multi-row decode tiles. */
export class DecodeRowsPicker {
  #rates: [number[], number[]] = [[], []]; // milliseconds per MB: [multi-row, 1-row]
  #bytes = [0, 0];
  #turn = 0;
  #choice: boolean | undefined;

  /** The form chosen, once settled (`undefined` while it is still timing both). */
  get choice(): boolean | undefined {
    return this.#choice;
  }

  /**
   * Whether the next decode call takes 1-row tiles.
   *
   * @returns The form to run (and, while not settled, to time with {@linkcode measured}).
   */
  next(): boolean {
    if (this.#choice !== undefined) return this.#choice;
    this.#turn ^= 1;
    return this.#turn === 1;
  }

  /**
   * Records one timed call; settles once both forms have {@linkcode CALLS} calls and
   * {@linkcode BYTES} bytes, on the lower median time per byte (a median, so that a call the
   * system interrupted does not decide).
   *
   * @param oneRow The form the call ran.
   * @param ms Its time.
   * @param bytes The weight bytes it read.
   */
  measured(oneRow: boolean, ms: number, bytes: number): void {
    if (this.#choice !== undefined || bytes <= 0) return;
    const form = oneRow ? 1 : 0;
    this.#rates[form].push((ms * 1e6) / bytes);
    this.#bytes[form] += bytes;
    const enough = (k: number) => this.#rates[k].length >= CALLS && this.#bytes[k] >= BYTES;
    if (enough(0) && enough(1)) this.#choice = median(this.#rates[1]) < median(this.#rates[0]);
  }
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[sorted.length >> 1];
}
