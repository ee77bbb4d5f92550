/**
 * The heavy steps of a forward pass as plain descriptors that any thread can run: which kernel,
 * which weight, which buffers, how many tokens. A job is a list of steps; every thread runs
 * its share of each step, in order, and the pool's barrier comes only at the end of the job.
 * So steps of one job must not read what another step of the same job writes, except where
 * the same thread wrote it: a {@linkcode swiGlu} step after the two matrix products that
 * produce its inputs reads exactly the rows the same thread computed, because both split the
 * hidden dimension with the same rule.
 *
 * | step        | each thread's share                                          |
 * | ----------- | ------------------------------------------------------------ |
 * | `matMul`    | chunks of the weight's rows, claimed one at a time            |
 * | `attention` | (token, key/value heads) items, dealt round-robin            |
 * | `swiGlu`    | the same chunks as the matrix products before it, per token |
 * | `rmsNorm`   | a contiguous share of the tokens                              |
 * | `rope`      | a contiguous share of the tokens                              |
 *
 * Rows are **claimed**, not dealt: each thread takes the next chunk of rows from the pool's
 * counter (`claim`, an `Atomics.add`) until none are left, so a thread that the machine slows
 * down (a busy neighbour, a stolen virtual CPU) takes fewer chunks instead of making the
 * others wait at the barrier. A job that ends with `swiGlu` claims chunks of the hidden
 * dimension, and one chunk runs `w1`, `w3` and the gate for those rows, so the gate reads only
 * what its own thread wrote. Jobs with `attention` keep the fixed deal.
 *
 * Every output element is computed entirely by one thread, in an order that does not depend
 * on the share or the chunk, so the logits are the same for any number of threads.
 *
 * @example
 * ```ts
 * import { attention, matMul, swiGlu } from "./steps.ts";
 *
 * const xb = { byteOffset: 0 }, hb = { byteOffset: 4096 }, hb2 = { byteOffset: 8192 };
 * const w1 = { type: "bf16", byteOffset: 0, rows: 256, cols: 64 } as const;
 * const job = [matMul(hb, xb, w1, 1), matMul(hb2, xb, w1, 1), swiGlu(hb, hb2, 256, 1)];
 * ```
 *
 * @module
 */

import { STORAGE_TYPES } from "../tensor/storage.ts";
import { type JobRunner, shareStart } from "../parallel/pool.ts";
import type { BackendInit, BackendName, KernelBackend, MatrixRef } from "./backend.ts";
import { createTsBackend } from "./ts_backend.ts";
import { createWasmBackend } from "./wasm/backend.ts";

/** A float32 buffer of the state memory, by its byte offset. */
export interface BufferRef {
  readonly byteOffset: number;
}

/** `out (T, rows) = input (T, cols) @ weight^T`. */
export interface MatMulStep {
  readonly kind: "matMul";
  readonly out: BufferRef;
  readonly input: BufferRef;
  readonly weight: MatrixRef;
  readonly tokens: number;
}

/** Causal grouped-query attention of `tokens` queries at positions `position ..`. */
export interface AttentionStep {
  readonly kind: "attention";
  readonly out: BufferRef;
  readonly q: BufferRef;
  readonly keys: BufferRef;
  readonly values: BufferRef;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly tokens: number;
  readonly position: number;
}

/** `gate[i] = silu(gate[i]) · up[i]` for `n` elements of each of `tokens` rows. */
export interface SwiGluStep {
  readonly kind: "swiGlu";
  readonly gate: BufferRef;
  readonly up: BufferRef;
  readonly n: number;
  readonly tokens: number;
}

/**
 * `x += residual` (when given), then `out = rmsnorm(x) · weight`, for `tokens` rows of `n`
 * floats.
 */
export interface RmsNormStep {
  readonly kind: "rmsNorm";
  readonly x: BufferRef;
  readonly residual: BufferRef | undefined;
  readonly out: BufferRef;
  readonly weight: BufferRef;
  readonly n: number;
  readonly tokens: number;
  readonly eps: number;
}

/** RoPE of `tokens` rows of queries and keys at positions `position ..`. */
export interface RopeStep {
  readonly kind: "rope";
  readonly q: BufferRef;
  readonly k: BufferRef;
  readonly cos: BufferRef;
  readonly sin: BufferRef;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly tokens: number;
  readonly position: number;
  readonly halves: boolean;
}

/** One step of a job. */
export type Step = MatMulStep | AttentionStep | SwiGluStep | RmsNormStep | RopeStep;

/**
 * `out (T, rows) = input (T, cols) @ weight^T` for `tokens` tokens.
 *
 * @param out Output buffer.
 * @param input Input buffer.
 * @param weight The weight matrix.
 * @param tokens Number of tokens.
 * @returns The step.
 */
export function matMul(
  out: BufferRef,
  input: BufferRef,
  weight: MatrixRef,
  tokens: number,
): MatMulStep {
  return { kind: "matMul", out, input, weight, tokens };
}

/**
 * Attention of `tokens` queries over the cached keys and values of one layer.
 *
 * @param out Output `(T, nHeads · headDim)`.
 * @param q Queries `(T, nHeads · headDim)`.
 * @param keys The layer's key cache `(context, nKvHeads · headDim)`.
 * @param values The layer's value cache.
 * @param heads Head counts and size.
 * @param tokens Number of query tokens.
 * @param position Position of the first query token.
 * @returns The step.
 */
export function attention(
  out: BufferRef,
  q: BufferRef,
  keys: BufferRef,
  values: BufferRef,
  heads: { readonly nHeads: number; readonly nKvHeads: number; readonly headDim: number },
  tokens: number,
  position: number,
): AttentionStep {
  return { kind: "attention", out, q, keys, values, ...heads, tokens, position };
}

/**
 * The SwiGLU gate `gate = silu(gate) · up`, `n` elements per token.
 *
 * @param gate `w1 x`, overwritten.
 * @param up `w3 x`.
 * @param n Elements per token (the hidden size).
 * @param tokens Number of tokens.
 * @returns The step.
 */
export function swiGlu(gate: BufferRef, up: BufferRef, n: number, tokens: number): SwiGluStep {
  return { kind: "swiGlu", gate, up, n, tokens };
}

/**
 * RMSNorm of `tokens` rows: `x += residual` first when `residual` is given (the residual
 * connection that comes before every norm but the first), then `out = rmsnorm(x) · weight`.
 *
 * @param out Where the normalized rows go (may be `x`).
 * @param x The rows, `n` floats each; updated when `residual` is given.
 * @param weight The learned scales, `n` floats in the state memory.
 * @param n Floats per row.
 * @param tokens Number of rows.
 * @param eps Added to the mean square.
 * @param residual Rows to add to `x` first.
 * @returns The step.
 */
export function rmsNorm(
  out: BufferRef,
  x: BufferRef,
  weight: BufferRef,
  n: number,
  tokens: number,
  eps: number,
  residual?: BufferRef,
): RmsNormStep {
  return { kind: "rmsNorm", x, residual, out, weight, n, tokens, eps };
}

/**
 * RoPE of queries `(tokens, nHeads · headDim)` and keys `(tokens, nKvHeads · headDim)` at
 * positions `position, position + 1, …`, in place.
 *
 * @param q Query rows.
 * @param k Key rows.
 * @param table The cosine and sine tables in the state memory (`headDim / 2` floats per
 *   position).
 * @param heads Head counts and size (`nHeads` or `nKvHeads` 0: rotate only the other rows).
 * @param tokens Number of rows.
 * @param position Position of row 0.
 * @param halves Hugging Face's pair layout instead of Meta's.
 * @returns The step.
 */
export function rope(
  q: BufferRef,
  k: BufferRef,
  table: { readonly cos: BufferRef; readonly sin: BufferRef },
  heads: { readonly nHeads: number; readonly nKvHeads: number; readonly headDim: number },
  tokens: number,
  position: number,
  halves: boolean,
): RopeStep {
  return { kind: "rope", q, k, ...table, ...heads, tokens, position, halves };
}

/** The worker module that runs steps, for `Pool.start`. */
export const STEP_WORKER_URL: URL = new URL("./worker.ts", import.meta.url);

/** Words per encoded step. */
const STEP_WORDS = 11;
const MATMUL = 1, ATTENTION = 2, SWIGLU = 3, RMSNORM = 4, ROPE = 5;

/**
 * Writes steps as float64 words for the pool (every offset and size is an integer below
 * 2^53).
 *
 * @param steps The job.
 * @returns Its words.
 */
export function encodeSteps(steps: readonly Step[]): Float64Array {
  const words = new Float64Array(steps.length * STEP_WORDS);
  steps.forEach((step, i) => {
    const at = i * STEP_WORDS;
    switch (step.kind) {
      case "matMul": {
        const w = step.weight;
        words.set([
          MATMUL,
          STORAGE_TYPES.indexOf(w.type),
          w.byteOffset,
          w.rows,
          w.cols,
          step.input.byteOffset,
          step.out.byteOffset,
          step.tokens,
        ], at);
        break;
      }
      case "attention":
        words.set([
          ATTENTION,
          step.out.byteOffset,
          step.q.byteOffset,
          step.keys.byteOffset,
          step.values.byteOffset,
          step.nHeads,
          step.nKvHeads,
          step.headDim,
          step.tokens,
          step.position,
        ], at);
        break;
      case "swiGlu":
        words.set([SWIGLU, step.gate.byteOffset, step.up.byteOffset, step.n, step.tokens], at);
        break;
      case "rmsNorm":
        words.set([
          RMSNORM,
          step.x.byteOffset,
          step.residual?.byteOffset ?? -1,
          step.out.byteOffset,
          step.weight.byteOffset,
          step.n,
          step.tokens,
          step.eps,
        ], at);
        break;
      case "rope":
        words.set([
          ROPE,
          step.q.byteOffset,
          step.k.byteOffset,
          step.cos.byteOffset,
          step.sin.byteOffset,
          step.nHeads,
          step.nKvHeads,
          step.headDim,
          step.tokens,
          step.position,
          step.halves ? 1 : 0,
        ], at);
        break;
    }
  });
  return words;
}

/** What every thread needs to run steps; posted once to each worker. */
export interface StepsInit extends Omit<BackendInit, "scratch"> {
  /** Each thread's scratch, by share index. */
  readonly scratch: readonly { readonly byteOffset: number; readonly byteLength: number }[];
}

/** Chunks each thread claims of a decode step, on average: more balance, against more calls. */
const DECODE_CHUNKS_PER_THREAD = 8;
/** Fewest rows in a prefill chunk: a call still runs whole tiles over every token. */
const PREFILL_MIN_ROWS = 16;

/**
 * Where each claimed chunk of a `rows`-row product starts, then `rows`: chunk `c` is rows
 * `[bounds[c], bounds[c + 1])`, every bound a multiple of 8 (the decode tile) but the last.
 * Decode takes equal chunks, about {@linkcode DECODE_CHUNKS_PER_THREAD} per thread. Prefill
 * chunks shrink as the product goes (each a `2 · shares`-th of the rows left, at least
 * {@linkcode PREFILL_MIN_ROWS}): a prefill chunk of a 2048-row product in equal eighths took
 * ~7 ms, and the thread that finished first waited for half of that, on average, at the end of
 * every job; with shrinking chunks the last ones take well under a millisecond.
 */
export function rowChunks(rows: number, tokens: number, shares: number): readonly number[] {
  const key = `${rows} ${tokens === 1} ${shares}`;
  const known = CHUNK_BOUNDS.get(key);
  if (known !== undefined) return known;
  const round8 = (n: number) => Math.ceil(n / 8) * 8;
  const equal = Math.max(8, round8(rows / (shares * DECODE_CHUNKS_PER_THREAD)));
  const bounds = [0];
  for (let at = 0; at < rows;) {
    const size = tokens === 1
      ? equal
      : Math.max(PREFILL_MIN_ROWS, round8((rows - at) / (2 * shares)));
    at = Math.min(rows, at + size);
    bounds.push(at);
  }
  CHUNK_BOUNDS.set(key, bounds);
  return bounds;
}
const CHUNK_BOUNDS = new Map<string, readonly number[]>();

/**
 * Builds one thread's runner of encoded steps.
 *
 * @param init Backend, memories, scratch of every thread.
 * @param share This thread's share index (picks its scratch).
 * @returns The thread's {@linkcode JobRunner}: runs its share of each step in order.
 */
export function stepRunner(
  init: StepsInit,
  share: number,
): JobRunner {
  const backend = createBackend(init.backend, { ...init, scratch: init.scratch[share] });
  let current: Float64Array = new Float64Array(0); // the job being run
  const matMulRows = (at: number, r0: number, r1: number) => {
    const w: MatrixRef = {
      type: STORAGE_TYPES[current[at + 1]],
      byteOffset: current[at + 2],
      rows: current[at + 3],
      cols: current[at + 4],
    };
    backend.matMul(w, current[at + 5], current[at + 6], w.rows, current[at + 7], r0, r1);
  };
  const swiGluRange = (at: number, start: number, end: number) => {
    backend.swiGlu(current[at + 1], current[at + 2], current[at + 3], current[at + 4], start, end);
  };

  /** Chunks of every step's rows, claimed in turn; the steps are independent. */
  const claimEach = (length: number, shares: number, claim: () => number) => {
    let claimed = claim(), first = 0;
    for (let at = 0; at < length; at += STEP_WORDS) {
      const bounds = rowChunks(current[at + 3], current[at + 7], shares);
      const chunks = bounds.length - 1;
      while (claimed < first + chunks) {
        const c = claimed - first;
        matMulRows(at, bounds[c], bounds[c + 1]);
        claimed = claim();
      }
      first += chunks;
    }
  };

  /** Chunks of the hidden dimension, each through every step (`w1`, `w3`, then the gate). */
  const claimTogether = (length: number, shares: number, claim: () => number) => {
    const bounds = rowChunks(current[3], current[7], shares);
    for (let c = claim(); c < bounds.length - 1; c = claim()) {
      const r0 = bounds[c], r1 = bounds[c + 1];
      for (let at = 0; at < length; at += STEP_WORDS) {
        if (current[at] === MATMUL) matMulRows(at, r0, r1);
        else swiGluRange(at, r0, r1);
      }
    }
  };

  return (words, length, share, shares, claim) => {
    current = words;
    backend.newJob?.();
    let kinds = 0;
    for (let at = 0; at < length; at += STEP_WORDS) kinds |= 1 << words[at];
    if (shares > 1 && kinds === 1 << MATMUL) return claimEach(length, shares, claim);
    if (shares > 1 && kinds === ((1 << MATMUL) | (1 << SWIGLU)) && sameRows(words, length)) {
      return claimTogether(length, shares, claim);
    }
    for (let at = 0; at < length; at += STEP_WORDS) {
      switch (words[at]) {
        case MATMUL: {
          const w: MatrixRef = {
            type: STORAGE_TYPES[words[at + 1]],
            byteOffset: words[at + 2],
            rows: words[at + 3],
            cols: words[at + 4],
          };
          const r0 = shareStart(w.rows, share, shares), r1 = shareStart(w.rows, share + 1, shares);
          backend.matMul(w, words[at + 5], words[at + 6], w.rows, words[at + 7], r0, r1);
          break;
        }
        case ATTENTION:
          runAttention(backend, words, at, share, shares);
          break;
        case RMSNORM: {
          const n = words[at + 5], tokens = words[at + 6];
          const t0 = shareStart(tokens, share, shares), t1 = shareStart(tokens, share + 1, shares);
          if (t0 === t1) break;
          const skip = 4 * n * t0, residual = words[at + 2];
          backend.rmsNorm(
            words[at + 1] + skip,
            residual < 0 ? undefined : residual + skip,
            words[at + 3] + skip,
            words[at + 4],
            n,
            t1 - t0,
            words[at + 7],
          );
          break;
        }
        case ROPE: {
          const tokens = words[at + 8];
          const t0 = shareStart(tokens, share, shares), t1 = shareStart(tokens, share + 1, shares);
          if (t0 === t1) break;
          const cos = words[at + 3], sin = words[at + 4], headDim = words[at + 7];
          const position = words[at + 9] + t0, halves = words[at + 10] !== 0;
          for (
            const [v, heads] of [[words[at + 1], words[at + 5]], [words[at + 2], words[at + 6]]]
          ) {
            if (heads === 0) continue; // a step for the queries or the keys alone
            const rowFloats = heads * headDim;
            backend.rope(
              v + 4 * rowFloats * t0,
              rowFloats,
              heads,
              headDim,
              t1 - t0,
              position,
              cos,
              sin,
              halves,
            );
          }
          break;
        }
        case SWIGLU: {
          const n = words[at + 3], tokens = words[at + 4];
          const start = shareStart(n, share, shares), end = shareStart(n, share + 1, shares);
          backend.swiGlu(words[at + 1], words[at + 2], n, tokens, start, end);
          break;
        }
        default:
          throw new Error(`unknown step kind ${words[at]}`);
      }
    }
  };
}

/** Whether every matrix product of a job has as many rows as its `swiGlu` has elements. */
function sameRows(words: Float64Array, length: number): boolean {
  let n = -1;
  for (let at = 0; at < length; at += STEP_WORDS) {
    const rows = words[at + 3]; // a product's rows, or the gate's elements per token
    if (n === -1) n = rows;
    else if (rows !== n) return false;
  }
  return words[0] === MATMUL;
}

/**
 * One thread's attention items: each (token, share of key/value heads). With at least as many
 * key/value heads as threads, every thread takes the same contiguous heads of every token
 * (equal work, though later tokens of a prefill attend to more positions); with more threads
 * than key/value heads, one head per item, dealt round-robin.
 */
function runAttention(
  backend: KernelBackend,
  words: Float64Array,
  at: number,
  share: number,
  shares: number,
): void {
  const out = words[at + 1], q = words[at + 2], keys = words[at + 3], values = words[at + 4];
  const nHeads = words[at + 5], nKvHeads = words[at + 6], headDim = words[at + 7];
  const tokens = words[at + 8], position = words[at + 9];
  const kvGroup = nHeads / nKvHeads, dim = nHeads * headDim, kvDim = nKvHeads * headDim;
  const parts = Math.min(shares, nKvHeads);
  for (let item = share; item < tokens * parts; item += shares) {
    const t = Math.floor(item / parts), part = item % parts;
    const kv0 = shareStart(nKvHeads, part, parts), kv1 = shareStart(nKvHeads, part + 1, parts);
    const head = 4 * (t * dim + kv0 * kvGroup * headDim); // bytes to the share's first query head
    const cache = 4 * kv0 * headDim;
    backend.attention(
      q + head,
      out + head,
      keys + cache,
      values + cache,
      kvDim,
      headDim,
      kv1 - kv0,
      kvGroup,
      position + t + 1,
    );
  }
}

/**
 * The backend of that name for one thread.
 *
 * @param name `ts` or `wasm`.
 * @param init Memories, module, this thread's scratch.
 * @returns The backend.
 */
export function createBackend(name: BackendName, init: BackendInit): KernelBackend {
  return name === "wasm" ? createWasmBackend(init) : createTsBackend(init);
}
