/**
 * Choosing the next token from a row of logits.
 *
 * Greedy decoding (temperature 0) takes the largest logit. Otherwise the logits are
 * divided by the temperature, optionally cut to the `topK` largest, turned into
 * probabilities with a softmax, optionally cut to the top-p nucleus, renormalized, and one
 * token is drawn with a seeded {@linkcode Xoshiro128StarStar}.
 *
 * The sampler runs once per generated token over the whole vocabulary (128256 entries for
 * Llama 3), so it never sorts the vocabulary and, after its first call, allocates nothing:
 * - top-k keeps a size-k min-heap while scanning the logits (a logit that does not beat the
 *   heap's smallest is rejected with one comparison), then sorts just those k;
 * - top-p alone first drops every token too unlikely to be in any nucleus (see
 *   {@linkcode nucleusFloor}), then finds the nucleus with a quickselect that partitions by
 *   probability and counts probability mass instead of elements (expected linear time).
 *
 * @example
 * ```ts
 * import { createSampler } from "./sampler.ts";
 *
 * const sampler = createSampler({ temperature: 0.6, topP: 0.9, seed: 42 });
 * const next = sampler.sample(new Float32Array([2, 1, 0, -1]));
 * ```
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { randomSeed, Xoshiro128StarStar } from "./random.ts";

/** Picks a token id from one row of logits (length = vocabulary size). */
export interface Sampler {
  sample(logits: Float32Array): number;
}

/**
 * The index of the largest logit; ties go to the lowest index.
 *
 * @param logits one row of logits
 * @returns the token id with the highest logit
 */
export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = logits[0];
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > bestValue) {
      bestValue = logits[i];
      best = i;
    }
  }
  return best;
}

/** Greedy decoding: always the most likely token. */
export const greedySampler: Sampler = { sample: argmax };

/** How to pick tokens. */
export interface SamplerOptions {
  /** Divides the logits; 0 means greedy (argmax). Must be finite and ≥ 0. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 or undefined turns the filter off. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability adds up to ≥ p; in (0, 1]. */
  topP?: number;
  /** Seed of the random generator; the same seed gives the same tokens. Drawn at random if absent. */
  seed?: number;
}

/** A sampler together with the options it runs with (the seed filled in). */
export interface ConfiguredSampler extends Sampler {
  /** The validated options; `topK` 0 and `topP` 1 mean "off"; `seed` is the one in use. */
  readonly options: Readonly<Required<SamplerOptions>>;
}

/**
 * Checks sampler options and says which value is wrong and what range is allowed.
 *
 * @param options the options to check
 * @throws {UsageError} when a value is out of range
 */
export function validateSamplerOptions(options: SamplerOptions): void {
  const { temperature, topK, topP, seed } = options;
  if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature < 0) {
    throw new UsageError(
      `temperature must be a finite number ≥ 0 (0 = greedy), found ${temperature}`,
      { fix: "use --temperature 0 for greedy decoding, or a value such as 0.6" },
    );
  }
  if (
    topK !== undefined && (typeof topK !== "number" || !Number.isInteger(topK) || topK < 0)
  ) {
    throw new UsageError(`top-k must be an integer ≥ 0 (0 = off), found ${topK}`, {
      fix: "use --top-k 0 to turn top-k off, or a value such as 40",
    });
  }
  if (
    topP !== undefined &&
    (typeof topP !== "number" || !Number.isFinite(topP) || topP <= 0 || topP > 1)
  ) {
    throw new UsageError(`top-p must be a number in (0, 1] (1 = off), found ${topP}`, {
      fix: "use --top-p 1 to turn top-p off, or a value such as 0.9",
    });
  }
  if (seed !== undefined && (typeof seed !== "number" || !Number.isSafeInteger(seed))) {
    throw new UsageError(
      `seed must be an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}, found ${seed}`,
      { fix: "use a whole number such as --seed 42, or leave the seed out for a random one" },
    );
  }
}

/**
 * Builds a sampler. Temperature 0 gives greedy decoding (argmax, ties to the lowest id).
 *
 * @param options temperature, optional top-k, top-p and seed
 * @returns a sampler that remembers its options (with the seed it drew, if none was given)
 * @throws {UsageError} when an option is out of range
 * @example
 * ```ts
 * import { createSampler } from "./sampler.ts";
 *
 * const sampler = createSampler({ temperature: 1, topK: 40, seed: 7 });
 * console.log(sampler.options.seed); // 7
 * ```
 */
export function createSampler(options: SamplerOptions): ConfiguredSampler {
  validateSamplerOptions(options);
  const resolved = Object.freeze({
    temperature: options.temperature,
    topK: options.topK ?? 0,
    topP: options.topP ?? 1,
    seed: options.seed ?? randomSeed(),
  });
  if (resolved.temperature === 0) return { options: resolved, sample: argmax };
  return new TemperatureSampler(resolved);
}

/**
 * The lowest probability a token can have and still belong to a top-p nucleus, as a
 * fraction of the total: `(1 - p) / (n - 1)` for a vocabulary of n tokens.
 *
 * Why: let token j be in the nucleus but not the most likely token. Then the tokens ranked
 * above j hold less than p (otherwise the nucleus would have stopped before j), so j and the
 * tokens ranked below it hold more than 1 - p. There are at most n - 1 of them, each no
 * more likely than j, so (n - 1) · P(j) > 1 - p. Every token below the floor can therefore
 * be dropped before any selection; the most likely token is kept regardless.
 * (The same bound is used by karpathy/llama2.c.)
 *
 * @param topP the nucleus mass p, in (0, 1]
 * @param vocabSize n, the number of tokens
 * @returns the floor as a fraction of the total probability
 */
export function nucleusFloor(topP: number, vocabSize: number): number {
  return vocabSize > 1 ? (1 - topP) / (vocabSize - 1) : 0;
}

/** Below this many candidates, quickselect finishes with an insertion sort. */
const SMALL = 16;

/** Temperature sampling with optional top-k and top-p; see the module doc for the plan. */
class TemperatureSampler implements ConfiguredSampler {
  readonly options: Readonly<Required<SamplerOptions>>;
  readonly #rng: Xoshiro128StarStar;
  readonly #invTemperature: number;
  // Scratch, sized by the vocabulary on first use: unnormalized probabilities (float64)
  // and candidate token ids.
  #weights = new Float64Array(0);
  #order = new Int32Array(0);

  constructor(options: Readonly<Required<SamplerOptions>>) {
    this.options = options;
    this.#rng = Xoshiro128StarStar.fromSeed(options.seed);
    this.#invTemperature = 1 / options.temperature;
  }

  sample(logits: Float32Array): number {
    const n = logits.length;
    if (this.#weights.length !== n) {
      this.#weights = new Float64Array(n);
      this.#order = new Int32Array(n);
    }
    const k = this.options.topK;
    if (k > 0 && k < n) return this.#sampleTopK(logits, k);
    if (this.options.topP < 1) return this.#sampleTopP(logits);
    return this.#sampleAll(logits);
  }

  /** Softmax over the whole vocabulary, then one draw. */
  #sampleAll(logits: Float32Array): number {
    const n = logits.length;
    const w = this.#weights;
    const max = logits[argmax(logits)];
    if (!Number.isFinite(max)) return argmax(logits);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp((logits[i] - max) * this.#invTemperature);
      w[i] = e;
      sum += e;
    }
    let r = this.#rng.nextFloat() * sum;
    let last = 0;
    for (let i = 0; i < n; i++) {
      if (w[i] === 0) continue;
      r -= w[i];
      if (r < 0) return i;
      last = i;
    }
    return last; // only reached through rounding: the last token with weight
  }

  /** Top-k by heap selection, then (optionally) top-p on the sorted k, then one draw. */
  #sampleTopK(logits: Float32Array, k: number): number {
    const heap = this.#order; // heap[0..k): min-heap of the best k so far, worst at the root
    for (let i = 0; i < k; i++) heap[i] = i;
    for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(heap, i, k, logits);
    const n = logits.length;
    let floor = logits[heap[0]]; // the k-th best logit so far
    for (let i = k; i < n; i++) {
      // Every id in the heap is < i, so on equal logits i ranks lower: only a strictly
      // larger logit gets in.
      if (logits[i] > floor) {
        heap[0] = i;
        siftDown(heap, 0, k, logits);
        floor = logits[heap[0]];
      }
    }
    // Heap sort: moving the worst to the back each time leaves heap[0..k) best first.
    for (let end = k - 1; end > 0; end--) {
      const t = heap[0];
      heap[0] = heap[end];
      heap[end] = t;
      siftDown(heap, 0, end, logits);
    }

    const w = this.#weights; // w[j] belongs to candidate heap[j]
    const max = logits[heap[0]];
    if (!Number.isFinite(max)) return heap[0];
    let sum = 0;
    for (let j = 0; j < k; j++) {
      w[j] = Math.exp((logits[heap[j]] - max) * this.#invTemperature);
      sum += w[j];
    }
    let count = k;
    if (this.options.topP < 1) {
      // Candidates are sorted, so the nucleus is the shortest prefix with enough mass.
      const target = this.options.topP * sum;
      let acc = 0;
      for (let j = 0; j < k; j++) {
        acc += w[j];
        if (acc >= target) {
          count = j + 1;
          break;
        }
      }
      sum = 0;
      for (let j = 0; j < count; j++) sum += w[j];
    }
    let r = this.#rng.nextFloat() * sum;
    for (let j = 0; j < count; j++) {
      r -= w[j];
      if (r < 0) return heap[j];
    }
    return heap[count - 1];
  }

  /** Softmax, drop the tail below the nucleus floor, select the nucleus, one draw. */
  #sampleTopP(logits: Float32Array): number {
    const n = logits.length;
    const w = this.#weights; // w[i] belongs to token i
    const order = this.#order;
    const top = argmax(logits);
    const max = logits[top];
    if (!Number.isFinite(max)) return top;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp((logits[i] - max) * this.#invTemperature);
      w[i] = e;
      sum += e;
    }
    // The top token has weight exp(0) = 1; keep it even when the floor is above it.
    const floor = Math.min(nucleusFloor(this.options.topP, n) * sum, 1);
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (w[i] >= floor) order[m++] = i;
    }
    const count = selectByMass(order, m, w, this.options.topP * sum);
    let nucleusSum = 0;
    for (let j = 0; j < count; j++) nucleusSum += w[order[j]];
    let r = this.#rng.nextFloat() * nucleusSum;
    for (let j = 0; j < count; j++) {
      r -= w[order[j]];
      if (r < 0) return order[j];
    }
    return order[count - 1];
  }
}

/**
 * Restores the min-heap property below `i` in `heap[0..size)`, where the "smallest" entry
 * is the worst token: lower logit, or equal logit and higher id.
 */
function siftDown(heap: Int32Array, i: number, size: number, logits: Float32Array): void {
  const item = heap[i];
  const value = logits[item];
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    const right = child + 1;
    if (right < size && worse(heap[right], heap[child], logits)) child = right;
    const c = heap[child];
    const cv = logits[c];
    if (cv < value || (cv === value && c > item)) {
      heap[i] = c;
      i = child;
    } else {
      break;
    }
  }
  heap[i] = item;
}

/** Token a ranks below token b: lower logit, or the same logit and a higher id. */
function worse(a: number, b: number, logits: Float32Array): boolean {
  const va = logits[a];
  const vb = logits[b];
  return va < vb || (va === vb && a > b);
}

/** Token a ranks above token b by weight: more likely, or equally likely with a lower id. */
function before(a: number, b: number, w: Float64Array): boolean {
  const wa = w[a];
  const wb = w[b];
  return wa > wb || (wa === wb && a < b);
}

/**
 * Rearranges `order[0..m)` so that its first `count` entries are exactly the smallest set of
 * highest-ranked tokens (by weight, then lower id) whose weights add up to ≥ `target`, and
 * returns `count` (at least 1). The entries inside that prefix are not sorted.
 *
 * A quickselect that keeps mass instead of rank: partition around a pivot; if the tokens
 * ranked above the pivot already hold `target`, the answer is among them; otherwise take
 * them (and the pivot) and look for the rest of the mass among the tokens ranked below.
 */
function selectByMass(order: Int32Array, m: number, w: Float64Array, target: number): number {
  let lo = 0;
  let hi = m;
  let need = target;
  while (hi - lo > SMALL) {
    // Median of three as pivot, moved to hi - 1.
    const mid = (lo + hi) >>> 1;
    let a = order[lo], b = order[mid], c = order[hi - 1], t = 0;
    if (before(b, a, w)) {
      t = a;
      a = b;
      b = t;
    }
    if (before(c, b, w)) {
      t = b;
      b = c;
      c = t;
      if (before(b, a, w)) {
        t = a;
        a = b;
        b = t;
      }
    }
    order[lo] = a;
    order[mid] = c;
    order[hi - 1] = b;
    const pivot = b;

    let store = lo;
    let massAbove = 0;
    for (let i = lo; i < hi - 1; i++) {
      const id = order[i];
      if (before(id, pivot, w)) {
        order[i] = order[store];
        order[store++] = id;
        massAbove += w[id];
      }
    }
    order[hi - 1] = order[store];
    order[store] = pivot;

    if (massAbove >= need) {
      hi = store;
    } else if (massAbove + w[pivot] >= need) {
      return store + 1;
    } else {
      need -= massAbove + w[pivot];
      lo = store + 1;
    }
  }
  // Few left: sort them and take the shortest prefix with enough mass.
  for (let i = lo + 1; i < hi; i++) {
    const t = order[i];
    let j = i - 1;
    while (j >= lo && before(t, order[j], w)) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = t;
  }
  for (let i = lo; i < hi; i++) {
    need -= w[order[i]];
    if (need <= 0) return i + 1;
  }
  return Math.max(hi, 1); // rounding left a sliver of mass: everything up to hi is in
}
