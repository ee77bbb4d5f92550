/**
 * The Llama 3 forward pass.
 *
 * {@linkcode Transformer.forward} reads top to bottom in the order of the math (after
 * llama2.c's `forward`): embedding rows, then per layer RMSNorm → Q/K/V projections → RoPE →
 * KV cache → grouped-query attention → output projection → residual → RMSNorm → SwiGLU
 * feed-forward → residual; then the final RMSNorm and the classifier. A call processes any
 * number of tokens at consecutive positions: a whole prompt (prefill, matrix × matrix, so each
 * weight is read once per chunk of up to `maxBatch` tokens) or one token (decode).
 *
 * The matrix products and attention run on a pool of workers (`lib/parallel`) as jobs
 * (`jobs.ts`); the cheap vector steps (norms, RoPE, residual adds) run here on the calling
 * thread. Weights stay in their stored type; activations, the KV cache and the logits are
 * float32 in buffers allocated once ({@linkcode RunState}).
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "./checkpoint.ts";
 * import { Transformer } from "./transformer.ts";
 *
 * using checkpoint = loadCheckpoint("/models/Llama3.2-1B-Instruct");
 * using model = await Transformer.create(checkpoint, { contextLength: 2048, threads: 2 });
 * const logits = await model.forward([128000, 9906], 0); // (vocab,) for the last token
 * ```
 *
 * @module
 */

import { ContextError, TokenizerError, UsageError } from "../errors.ts";
import { type Matrix, matrixOf, readRow } from "../kernels/matrix.ts";
import { rmsNorm } from "../kernels/rmsnorm.ts";
import { rope, type RopeTable, ropeTable } from "../kernels/rope.ts";
import { InlinePool, type Pool, WorkerPool } from "../parallel/pool.ts";
import type { Checkpoint, WeightTensor } from "./checkpoint.ts";
import type { ModelConfig } from "./config.ts";
import { type MatrixSpec, type ModelInit, Op, openJobs } from "./jobs.ts";
import { RunState } from "./run_state.ts";

/** Options of {@linkcode Transformer.create}. */
export interface TransformerOptions {
  /**
   * Positions the KV cache holds: prompt plus generated tokens of a whole session.
   * Default `min(8192, config.maxContext)`; at most `config.maxContext`.
   */
  contextLength?: number;
  /**
   * Worker threads sharing the heavy work. Default `navigator.hardwareConcurrency`.
   * `0` runs everything on the calling thread.
   */
  threads?: number;
  /** Most tokens per forward chunk (prefill batch). Default 128. */
  maxBatch?: number;
}

/** Options of one forward pass. */
export interface ForwardOptions {
  /** Called before each layer (`layer` from 0) and before the classifier (`layer = nLayers`). */
  onLayer?: (layer: number, nLayers: number) => void;
  /** Checked before every layer; an aborted signal rejects with its reason. */
  signal?: AbortSignal;
}

/** Default context length: Llama 3's original window. */
export const DEFAULT_CONTEXT_LENGTH = 8192;
/** Default prefill chunk. */
export const DEFAULT_MAX_BATCH = 128;

/** Norm weights widened to float32 once (they are small and read by the calling thread). */
interface LayerNorms {
  readonly attention: Float32Array;
  readonly ffn: Float32Array;
}

/** A Llama 3 model ready to run: weights mapped, buffers allocated, workers started. */
export class Transformer implements Disposable {
  /** Model hyperparameters. */
  readonly config: ModelConfig;
  /** Positions the KV cache holds. */
  readonly contextLength: number;
  /** Worker threads (0: the calling thread does the work). */
  readonly threads: number;
  /** Most tokens per forward chunk. */
  readonly maxBatch: number;
  /** Milliseconds {@linkcode Transformer.create} took (buffers, tables, worker startup). */
  readonly loadMs: number;

  #pool: Pool;
  #state: RunState;
  #embedding: Matrix;
  #norms: LayerNorms[];
  #finalNorm: Float32Array;
  #rope: RopeTable;
  #busy = false;
  #closed = false;

  private constructor(
    config: ModelConfig,
    parts: {
      contextLength: number;
      maxBatch: number;
      pool: Pool;
      state: RunState;
      embedding: Matrix;
      norms: LayerNorms[];
      finalNorm: Float32Array;
      rope: RopeTable;
      loadMs: number;
    },
  ) {
    this.config = config;
    this.contextLength = parts.contextLength;
    this.maxBatch = parts.maxBatch;
    this.threads = parts.pool.workers;
    this.#pool = parts.pool;
    this.#state = parts.state;
    this.#embedding = parts.embedding;
    this.#norms = parts.norms;
    this.#finalNorm = parts.finalNorm;
    this.#rope = parts.rope;
    this.loadMs = parts.loadMs;
  }

  /**
   * Prepares a checkpoint for inference: allocates the activations and the KV cache, computes
   * the RoPE tables and starts the workers, which view the mapped weights without copying.
   * Close the transformer (or `using` it) before closing the checkpoint.
   *
   * @param checkpoint An open checkpoint.
   * @param options Context length, threads, prefill chunk.
   * @returns The ready model.
   * @throws {ContextError} When `contextLength` is not between 1 and `config.maxContext`.
   * @throws {UsageError} When `threads` or `maxBatch` is not a valid count.
   */
  static async create(
    checkpoint: Checkpoint,
    options: TransformerOptions = {},
  ): Promise<Transformer> {
    const started = performance.now();
    const config = checkpoint.config;
    const contextLength = options.contextLength ??
      Math.min(DEFAULT_CONTEXT_LENGTH, config.maxContext);
    if (!Number.isSafeInteger(contextLength) || contextLength < 1) {
      throw new ContextError(`expected a context length of at least 1, found ${contextLength}`, {
        fix: `pass a whole number of tokens between 1 and ${config.maxContext}`,
      });
    }
    if (contextLength > config.maxContext) {
      throw new ContextError(
        `expected a context length of at most ${config.maxContext} (this model's maximum), ` +
          `found ${contextLength}`,
        { path: checkpoint.dir, fix: `pass a context length of ${config.maxContext} or less` },
      );
    }
    const threads = options.threads ?? navigator.hardwareConcurrency;
    if (!Number.isSafeInteger(threads) || threads < 0) {
      throw new UsageError(`expected a thread count of 0 or more, found ${threads}`, {
        fix: "pass a whole number of threads, e.g. the number of CPU cores",
      });
    }
    const maxBatch = Math.min(options.maxBatch ?? DEFAULT_MAX_BATCH, contextLength);
    if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) {
      throw new UsageError(`expected a batch size of at least 1, found ${maxBatch}`);
    }

    const state = RunState.allocate({
      dim: config.dim,
      kvDim: config.kvDim,
      hiddenDim: config.hiddenDim,
      nLayers: config.nLayers,
      vocabSize: config.vocabSize,
      contextLength,
      maxBatch,
    });
    const spec = (name: string): MatrixSpec => {
      const t = checkpoint.tensor(name);
      return { dtype: t.dtype, byteOffset: t.byteOffset, rows: t.shape[0], cols: t.shape[1] };
    };
    const layers = [];
    for (let i = 0; i < config.nLayers; i++) {
      const at = `layers.${i}.attention`, ff = `layers.${i}.feed_forward`;
      layers.push({
        wq: spec(`${at}.wq.weight`),
        wk: spec(`${at}.wk.weight`),
        wv: spec(`${at}.wv.weight`),
        wo: spec(`${at}.wo.weight`),
        w1: spec(`${ff}.w1.weight`),
        w2: spec(`${ff}.w2.weight`),
        w3: spec(`${ff}.w3.weight`),
      });
    }
    const init: ModelInit = {
      nHeads: config.nHeads,
      nKvHeads: config.nKvHeads,
      headDim: config.headDim,
      weights: checkpoint.file.shared,
      layers,
      output: spec(checkpoint.tiedEmbeddings ? "tok_embeddings.weight" : "output.weight"),
      state: state.buffers,
    };
    const tokEmbeddings = checkpoint.tensor("tok_embeddings.weight");
    const embedding = matrixOf(
      tokEmbeddings.dtype,
      tokEmbeddings.data,
      config.vocabSize,
      config.dim,
    );
    const norms = [];
    for (let i = 0; i < config.nLayers; i++) {
      norms.push({
        attention: widen(checkpoint.tensor(`layers.${i}.attention_norm.weight`)),
        ffn: widen(checkpoint.tensor(`layers.${i}.ffn_norm.weight`)),
      });
    }
    const finalNorm = widen(checkpoint.tensor("norm.weight"));
    const rope = ropeTable(config.headDim, config.ropeTheta, config.useScaledRope, contextLength);
    // Last, so that nothing can fail after the workers are running.
    const pool = threads === 0
      ? new InlinePool(openJobs(init, checkpoint.file.buffer))
      : await WorkerPool.start(threads, init);
    return new Transformer(config, {
      contextLength,
      maxBatch,
      pool,
      state,
      embedding,
      norms,
      finalNorm,
      rope,
      loadMs: performance.now() - started,
    });
  }

  /**
   * Runs `tokens` through the model at positions `position, position + 1, …`, writing their
   * keys and values into the KV cache, and returns the logits of the last token. Earlier
   * positions must already be in the cache (from previous calls).
   *
   * @param tokens Token ids (at least one).
   * @param position Position of `tokens[0]`.
   * @param options Progress callback, abort signal.
   * @returns Logits `(vocabSize,)`: a view that the next forward pass overwrites.
   * @throws {ContextError} When the tokens do not fit in the context.
   * @throws {TokenizerError} When a token id is outside the vocabulary.
   */
  async forward(
    tokens: readonly number[],
    position: number,
    options: ForwardOptions = {},
  ): Promise<Float32Array> {
    this.#check(tokens, position);
    this.#busy = true;
    try {
      for (let start = 0; start < tokens.length; start += this.maxBatch) {
        const chunk = tokens.length <= this.maxBatch
          ? tokens
          : tokens.slice(start, start + this.maxBatch);
        await this.#layers(chunk, position + start, options);
      }
      await this.#classify(tokens.length - 1 - this.#lastChunkStart(tokens.length), options);
      return this.#state.logits;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Like {@linkcode Transformer.forward}, but returns the logits of every token: row `t` of the
   * result is the prediction after `tokens[0..t]`. Runs the classifier once per token; meant
   * for tests and tools, not for generation.
   *
   * @param tokens Token ids (at least one).
   * @param position Position of `tokens[0]`.
   * @param options Progress callback, abort signal.
   * @returns A new `(tokens.length, vocabSize)` array.
   */
  async forwardAll(
    tokens: readonly number[],
    position: number,
    options: ForwardOptions = {},
  ): Promise<Float32Array> {
    this.#check(tokens, position);
    const vocab = this.config.vocabSize;
    const all = new Float32Array(tokens.length * vocab);
    this.#busy = true;
    try {
      for (let start = 0; start < tokens.length; start += this.maxBatch) {
        const chunk = tokens.slice(start, start + this.maxBatch);
        await this.#layers(chunk, position + start, options);
        for (let t = 0; t < chunk.length; t++) {
          await this.#classify(t, options);
          all.set(this.#state.logits, (start + t) * vocab);
        }
      }
      return all;
    } finally {
      this.#busy = false;
    }
  }

  /** Stops the workers. Idempotent. Close the transformer before its checkpoint. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.close();
  }

  /** Same as {@linkcode Transformer.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #check(tokens: readonly number[], position: number): void {
    if (this.#closed) {
      throw new UsageError("expected an open transformer, it was closed", {
        fix: "create a new Transformer, or close it only after generation ends",
      });
    }
    if (this.#busy) {
      throw new UsageError("expected one forward pass at a time, one is still running", {
        fix: "await each forward pass (or generation) before starting the next",
      });
    }
    if (tokens.length === 0) throw new UsageError("expected at least one token, found none");
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new UsageError(`expected a position of 0 or more, found ${position}`);
    }
    if (position + tokens.length > this.contextLength) {
      throw new ContextError(
        `expected at most ${this.contextLength} positions (the context length), but ` +
          `${tokens.length} tokens at position ${position} reach position ` +
          `${position + tokens.length}`,
        { fix: "start a new session, or create the transformer with a longer context length" },
      );
    }
    const vocab = this.config.vocabSize;
    for (const id of tokens) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new TokenizerError(
          `expected token ids from 0 to ${vocab - 1}, found ${id}`,
          { fix: "use the tokenizer that belongs to this model" },
        );
      }
    }
  }

  #lastChunkStart(n: number): number {
    return Math.floor((n - 1) / this.maxBatch) * this.maxBatch;
  }

  /** All layers for one chunk of `T ≤ maxBatch` tokens at positions `position..`; leaves x. */
  async #layers(tokens: readonly number[], position: number, options: ForwardOptions) {
    const { dim, nLayers, nHeads, nKvHeads, kvDim, normEps } = this.config;
    const s = this.#state, pool = this.#pool, n = tokens.length;

    // x (T, dim) = embedding rows
    for (let t = 0; t < n; t++) readRow(s.x, t * dim, this.#embedding, tokens[t]);

    for (let layer = 0; layer < nLayers; layer++) {
      options.signal?.throwIfAborted();
      options.onLayer?.(layer, nLayers);
      const norms = this.#norms[layer];

      // Attention block. xb (T, dim) = rmsnorm(x)
      for (let t = 0; t < n; t++) {
        rmsNorm(s.xb, t * dim, s.x, t * dim, norms.attention, dim, normEps);
      }
      // q (T, dim) = xb @ wq^T; key/value cache rows [position, position + T) = xb @ wk^T, wv^T
      await pool.run(Op.QKV, layer, n, position);
      // Rotate queries and keys by their positions.
      const keys = s.keyCache[layer];
      for (let t = 0; t < n; t++) {
        rope(s.q, t * dim, nHeads, this.#rope, position + t);
        rope(keys, (position + t) * kvDim, nKvHeads, this.#rope, position + t);
      }
      // xb (T, dim) = softmax(q k^T / sqrt(headDim)) v, causal, per query head
      await pool.run(Op.ATTENTION, layer, n, position);
      // xb2 (T, dim) = xb @ wo^T; x += xb2
      await pool.run(Op.ATTENTION_OUT, layer, n, position);
      addInPlace(s.x, s.xb2, n * dim);

      // Feed-forward block. xb = rmsnorm(x); hb (T, hidden) = silu(xb @ w1^T) * (xb @ w3^T)
      for (let t = 0; t < n; t++) rmsNorm(s.xb, t * dim, s.x, t * dim, norms.ffn, dim, normEps);
      await pool.run(Op.FFN_UP, layer, n, position);
      // xb2 (T, dim) = hb @ w2^T; x += xb2
      await pool.run(Op.FFN_DOWN, layer, n, position);
      addInPlace(s.x, s.xb2, n * dim);
    }
  }

  /** logits (vocab,) = rmsnorm(x[t]) @ output^T, for token `t` of the last chunk. */
  async #classify(t: number, options: ForwardOptions) {
    const { dim, nLayers, normEps } = this.config;
    const s = this.#state;
    options.signal?.throwIfAborted();
    options.onLayer?.(nLayers, nLayers);
    rmsNorm(s.xb, 0, s.x, t * dim, this.#finalNorm, dim, normEps);
    await this.#pool.run(Op.CLASSIFIER);
  }
}

/** x[i] += y[i] for i < n. */
function addInPlace(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] += y[i];
}

/** A 1-D weight (a norm) as float32. */
function widen(tensor: WeightTensor): Float32Array {
  const n = tensor.shape[0];
  const out = new Float32Array(n);
  readRow(out, 0, matrixOf(tensor.dtype, tensor.data, 1, n), 0);
  return out;
}
