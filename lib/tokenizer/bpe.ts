/**
 * tiktoken's byte-pair encoding of one pre-tokenizer piece.
 *
 * A piece starts as one part per byte. While some two adjacent parts together form a token,
 * merge the pair whose token has the lowest rank (the leftmost such pair on a tie). The final
 * parts are the tokens. Unlike GPT-2's BPE there is no merge list: the rank of the merged
 * bytes is the priority.
 *
 * Byte strings are passed as "binary strings": one UTF-16 unit per byte, 0..255. That makes
 * the ranks table a plain `Map<string, number>` and a part a `slice` of the piece.
 *
 * Pieces are short (a word, a number, a punctuation run), and for them a linear scan for the
 * lowest pair, as tiktoken does, is fastest. Long pieces (a 10000-letter run, base64 without
 * spaces) would make that scan quadratic, so they use a heap of candidate pairs with lazy
 * deletion and a linked list of parts: O(n log n), same merges, same order.
 *
 * @example
 * ```ts
 * import { bytePairEncode } from "./bpe.ts";
 * const ranks = new Map([["a", 0], ["b", 1], ["ab", 2]]);
 * const out: number[] = [];
 * bytePairEncode("abab", ranks, out); // out: [2, 2]
 * ```
 *
 * @module
 */

/** Pieces up to this many bytes use the quadratic scan; longer ones the heap. */
export const SHORT_PIECE_BYTES = 64;

/**
 * Appends the tokens of one piece to `out`.
 *
 * @param piece The piece's bytes as a binary string (every unit 0..255).
 * @param ranks Token bytes (binary string) to rank; must contain every single byte of `piece`.
 * @param out Receives the token ids (ranks), in order.
 */
export function bytePairEncode(
  piece: string,
  ranks: ReadonlyMap<string, number>,
  out: number[],
): void {
  const whole = ranks.get(piece);
  if (whole !== undefined) {
    out.push(whole); // the common case: the piece is itself a token
  } else if (piece.length <= SHORT_PIECE_BYTES) {
    mergeByScan(piece, ranks, out);
  } else {
    mergeWithHeap(piece, ranks, out);
  }
}

function rankOf(ranks: ReadonlyMap<string, number>, piece: string, from: number, to: number) {
  return ranks.get(piece.slice(from, to)) ?? Infinity;
}

/** tiktoken's own loop: parts kept in an array, the lowest pair found by a linear scan. */
function mergeByScan(piece: string, ranks: ReadonlyMap<string, number>, out: number[]): void {
  // starts[k] = first byte of part k; starts[parts] = piece.length.
  // pairRank[k] = rank of parts k and k+1 merged, Infinity when not a token.
  let parts = piece.length;
  const starts = new Int32Array(parts + 1);
  for (let k = 0; k <= parts; k++) starts[k] = k;
  const pairRank = new Float64Array(parts);
  for (let k = 0; k + 1 < parts; k++) pairRank[k] = rankOf(ranks, piece, k, k + 2);

  while (parts > 1) {
    let best = -1;
    let bestRank = Infinity;
    for (let k = 0; k + 1 < parts; k++) {
      if (pairRank[k] < bestRank) { // strict: the leftmost of equal ranks wins
        bestRank = pairRank[k];
        best = k;
      }
    }
    if (best < 0) break;
    // Merge parts best and best+1: drop boundary best+1.
    starts.copyWithin(best + 1, best + 2, parts + 1);
    pairRank.copyWithin(best + 1, best + 2, parts);
    parts--;
    pairRank[best] = best + 1 < parts
      ? rankOf(ranks, piece, starts[best], starts[best + 2])
      : Infinity;
    if (best > 0) pairRank[best - 1] = rankOf(ranks, piece, starts[best - 1], starts[best + 1]);
  }
  for (let k = 0; k < parts; k++) out.push(ranks.get(piece.slice(starts[k], starts[k + 1]))!);
}

// Heap keys pack (rank, start of the pair's left part) into one exact float64:
// rank * 2^24 + start, so ordering keys orders by rank, then leftmost.
const POSITION_BITS = 2 ** 24;

/** Same merges as {@linkcode mergeByScan}, in O(n log n) for long pieces. */
function mergeWithHeap(piece: string, ranks: ReadonlyMap<string, number>, out: number[]): void {
  const n = piece.length;
  if (n >= POSITION_BITS) throw new RangeError(`piece of ${n} bytes is too long to encode`);
  // Parts are named by their first byte. next[p]/prev[p]: neighbouring part starts (n = none);
  // pairRank[p]: rank of part p merged with next[p]; merged parts have pairRank = NaN.
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const pairRank = new Float64Array(n);
  const heap = new MinHeap();
  for (let p = 0; p < n; p++) {
    next[p] = p + 1;
    prev[p] = p - 1;
    pairRank[p] = p + 1 < n ? rankOf(ranks, piece, p, p + 2) : Infinity;
    if (pairRank[p] !== Infinity) heap.push(pairRank[p] * POSITION_BITS + p);
  }
  const update = (p: number) => {
    const q = next[p];
    pairRank[p] = q < n ? rankOf(ranks, piece, p, next[q]) : Infinity;
    if (pairRank[p] !== Infinity) heap.push(pairRank[p] * POSITION_BITS + p);
  };

  while (heap.size > 0) {
    const key = heap.pop();
    const p = key % POSITION_BITS;
    const rank = (key - p) / POSITION_BITS;
    if (pairRank[p] !== rank) continue; // stale: p was merged away or its pair changed
    const q = next[p]; // merge q into p
    next[p] = next[q];
    if (next[q] < n) prev[next[q]] = p;
    pairRank[q] = NaN;
    update(p);
    if (p > 0) update(prev[p]);
  }
  for (let p = 0; p < n; p = next[p]) out.push(ranks.get(piece.slice(p, next[p]))!);
}

/** A binary min-heap of numbers. */
class MinHeap {
  #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(value: number): void {
    const items = this.#items;
    let i = items.push(value) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent] <= value) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.#items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= items.length) break;
        if (child + 1 < items.length && items[child + 1] < items[child]) child++;
        if (items[child] >= last) break;
        items[i] = items[child];
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}
