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
 * The matrix products, attention and the SwiGLU gate run on a pool of threads (`lib/parallel`)
 * as jobs of kernel steps (`lib/kernels/steps.ts`), on the WebAssembly SIMD kernels or the
 * TypeScript ones (`kernels: "wasm" | "ts"`); the cheap vector steps (norms, RoPE, residual
 * adds) run here on the calling thread. Weights stay in their stored type, in the weights
 * memory; activations, the KV cache and the logits are float32 in the state memory, allocated
 * once ({@linkcode RunState}).
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
import type { BackendName, MatrixRef } from "../kernels/backend.ts";
import { ropeTable } from "../kernels/rope.ts";
import {
  attention,
  type BufferRef,
  encodeSteps,
  matMul,
  rmsNorm,
  rope,
  type Step,
  STEP_WORKER_URL,
  stepRunner,
  type StepsInit,
  swiGlu,
} from "../kernels/steps.ts";
import { TS_MATRIX_KERNELS, type TsMatrixKernels } from "../kernels/ts_backend.ts";
import { compileKernels } from "../kernels/wasm/kernels.ts";
import { Pool } from "../parallel/pool.ts";
import { type Checkpoint, matrixOfTensor, tensorFloats } from "./checkpoint.ts";
import type { ModelConfig } from "./config.ts";
import { RunState, type StateBuffer } from "./run_state.ts";
import { type BlockStorageType, isBlockType } from "../tensor/storage.ts";

/** Options of {@linkcode Transformer.create}. */
export interface TransformerOptions {
  /**
   * Positions the KV cache holds: prompt plus generated tokens of a whole session.
   * Default `min(8192, config.maxContext)`; at most `config.maxContext`.
   */
  contextLength?: number;
  /**
   * Threads sharing the heavy work, the calling thread included. Default
   * `navigator.hardwareConcurrency`; `1` (or `0`) runs everything on the calling thread.
   */
  threads?: number;
  /** The kernels: WebAssembly SIMD (`"wasm"`, the default) or plain TypeScript (`"ts"`). */
  kernels?: BackendName;
  /** Most tokens per forward chunk (prefill batch). Default 128. */
  maxBatch?: number;
  /**
   * Separate KV caches, so that several conversations keep their cached tokens (a server's
   * sessions). Default 1. Memory is backed only as a cache fills.
   */
  kvCaches?: number;
}

/** Options of one forward pass. */
export interface ForwardOptions {
  /** Called before each layer (`layer` from 0) and before the classifier (`layer = nLayers`). */
  onLayer?: (layer: number, nLayers: number) => void;
  /** Checked before every layer; an aborted signal rejects with its reason. */
  signal?: AbortSignal;
  /** Which KV cache the pass reads and writes (`0 ≤ kvCache < Transformer.kvCaches`). Default 0. */
  kvCache?: number;
}

/** Default context length: Llama 3's original window. */
export const DEFAULT_CONTEXT_LENGTH = 8192;
/** Default prefill chunk. */
export const DEFAULT_MAX_BATCH = 128;

/** One transformer block's weights: matrices in the weights memory, norms widened once. */
interface LayerWeights {
  /** Queries `(nHeads · headDim, dim)`. */
  readonly wq: MatrixRef;
  /** Keys `(kvDim, dim)`. */
  readonly wk: MatrixRef;
  /** Values `(kvDim, dim)`. */
  readonly wv: MatrixRef;
  /** Attention output `(dim, nHeads · headDim)`. */
  readonly wo: MatrixRef;
  /** Feed-forward gate `(hidden, dim)`. */
  readonly w1: MatrixRef;
  /** Feed-forward down `(dim, hidden)`. */
  readonly w2: MatrixRef;
  /** Feed-forward up `(hidden, dim)`. */
  readonly w3: MatrixRef;
  /** RMSNorm weights before attention (float32, copied into the state memory). */
  readonly attentionNorm: StateBuffer;
  /** RMSNorm weights before the feed-forward block. */
  readonly ffnNorm: StateBuffer;
}

/** A Llama 3 model ready to run: weights mapped, buffers allocated, workers started. */
export class Transformer implements Disposable {
  /** Model hyperparameters. */
  readonly config: ModelConfig;
  /** Positions the KV cache holds. */
  readonly contextLength: number;
  /** Threads sharing the heavy work, the calling thread included. */
  readonly threads: number;
  /** The kernels in use. */
  readonly kernels: BackendName;
  /** Most tokens per forward chunk. */
  readonly maxBatch: number;
  /** Separate KV caches (see {@linkcode TransformerOptions.kvCaches}). */
  readonly kvCaches: number;
  /** Milliseconds {@linkcode Transformer.create} took (buffers, tables, worker startup). */
  readonly loadMs: number;

  #pool: Pool;
  #state: RunState;
  #embedding: EmbeddingRows;
  #layers: LayerWeights[];
  #finalNorm: StateBuffer;
  #output: MatrixRef;
  /** Query/key rows in Hugging Face's rotate_half order (pairs half a head apart), not Meta's. */
  #ropeHalves: boolean;
  #busy = false;
  #closed = false;

  private constructor(
    config: ModelConfig,
    parts: {
      contextLength: number;
      maxBatch: number;
      kernels: BackendName;
      pool: Pool;
      state: RunState;
      embedding: EmbeddingRows;
      layers: LayerWeights[];
      finalNorm: StateBuffer;
      output: MatrixRef;
      ropeHalves: boolean;
      loadMs: number;
    },
  ) {
    this.config = config;
    this.contextLength = parts.contextLength;
    this.maxBatch = parts.maxBatch;
    this.kvCaches = parts.state.kvCaches.length;
    this.threads = parts.pool.threads;
    this.kernels = parts.kernels;
    this.#pool = parts.pool;
    this.#state = parts.state;
    this.#embedding = parts.embedding;
    this.#layers = parts.layers;
    this.#finalNorm = parts.finalNorm;
    this.#output = parts.output;
    this.#ropeHalves = parts.ropeHalves;
    this.loadMs = parts.loadMs;
  }

  /**
   * Prepares a checkpoint for inference: allocates the activations and the KV cache, computes
   * the RoPE tables and starts the workers, which read the weights memory without copying.
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
        { path: checkpoint.path, fix: `pass a context length of ${config.maxContext} or less` },
      );
    }
    const requested = options.threads ?? navigator.hardwareConcurrency;
    if (!Number.isSafeInteger(requested) || requested < 0) {
      throw new UsageError(`expected a thread count of 0 or more, found ${requested}`, {
        fix: "pass a whole number of threads, e.g. the number of CPU cores",
      });
    }
    const threads = Math.max(1, requested);
    const kernels = options.kernels ?? "wasm";
    const maxBatch = Math.min(options.maxBatch ?? DEFAULT_MAX_BATCH, contextLength);
    if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) {
      throw new UsageError(`expected a batch size of at least 1, found ${maxBatch}`);
    }
    const kvCaches = options.kvCaches ?? 1;
    if (!Number.isSafeInteger(kvCaches) || kvCaches < 1) {
      throw new UsageError(`expected at least 1 KV cache, found ${kvCaches}`);
    }

    const state = RunState.allocate({
      dim: config.dim,
      kvDim: config.kvDim,
      hiddenDim: config.hiddenDim,
      nLayers: config.nLayers,
      nHeads: config.nHeads,
      vocabSize: config.vocabSize,
      contextLength,
      maxBatch,
      threads,
      kvCaches,
    });
    const matrix = (name: string) => matrixOfTensor(checkpoint.tensor(name));
    const weights = checkpoint.weights;
    // The norm weights, converted to float32, go into the state memory for the kernels.
    let norms = 0;
    const norm = (name: string): StateBuffer => {
      const at = norms++ * config.dim;
      state.norms.view.set(tensorFloats(checkpoint, name), at);
      return {
        byteOffset: state.norms.byteOffset + 4 * at,
        floats: config.dim,
        view: state.norms.view.subarray(at, at + config.dim),
      };
    };
    const layers: LayerWeights[] = [];
    for (let i = 0; i < config.nLayers; i++) {
      const at = `layers.${i}.attention`, ff = `layers.${i}.feed_forward`;
      layers.push({
        wq: matrix(`${at}.wq.weight`),
        wk: matrix(`${at}.wk.weight`),
        wv: matrix(`${at}.wv.weight`),
        wo: matrix(`${at}.wo.weight`),
        w1: matrix(`${ff}.w1.weight`),
        w2: matrix(`${ff}.w2.weight`),
        w3: matrix(`${ff}.w3.weight`),
        attentionNorm: norm(`layers.${i}.attention_norm.weight`),
        ffnNorm: norm(`layers.${i}.ffn_norm.weight`),
      });
    }
    const embeddingRef = matrix("tok_embeddings.weight");
    const embedding = new EmbeddingRows(weights.buffer, embeddingRef);
    const output = checkpoint.tiedEmbeddings ? embeddingRef : matrix("output.weight");
    const finalNorm = norm("norm.weight");
    // RoPE's angles for every position, in the state memory for the kernels.
    const angles = ropeTable(config.headDim, config.ropeTheta, config.ropeScaling, contextLength);
    state.ropeCos.view.set(angles.cos);
    state.ropeSin.view.set(angles.sin);
    const init: StepsInit = {
      backend: kernels,
      weights: weights.memory,
      state: state.memory,
      // Block kernels only for the block types this checkpoint holds: emitting all six takes
      // ~300 ms at startup that a bf16 model does not need.
      module: kernels === "wasm"
        ? compileKernels({ blockTypes: blockTypesOf(checkpoint) })
        : undefined,
      scratch: state.scratch,
      maxScores: config.nHeads * contextLength,
      maxCols: Math.max(config.dim, config.hiddenDim),
    };
    // Last, so that nothing can fail after the workers are running.
    const pool = await Pool.start({
      threads,
      runner: stepRunner(init, 0),
      workerUrl: STEP_WORKER_URL,
      init,
    });
    return new Transformer(config, {
      contextLength,
      maxBatch,
      kernels,
      pool,
      state,
      embedding,
      layers,
      finalNorm,
      output,
      ropeHalves: checkpoint.ropeLayout === "halves",
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
    this.#check(tokens, position, options);
    this.#busy = true;
    try {
      for (let start = 0; start < tokens.length; start += this.maxBatch) {
        const chunk = tokens.length <= this.maxBatch
          ? tokens
          : tokens.slice(start, start + this.maxBatch);
        await this.#blocks(chunk, position + start, options, "last");
      }
      await this.#classify(tokens.length - 1 - this.#lastChunkStart(tokens.length), options);
      return this.#state.logits.view;
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
    this.#check(tokens, position, options);
    const vocab = this.config.vocabSize;
    const all = new Float32Array(tokens.length * vocab);
    this.#busy = true;
    try {
      for (let start = 0; start < tokens.length; start += this.maxBatch) {
        const chunk = tokens.slice(start, start + this.maxBatch);
        await this.#blocks(chunk, position + start, options, "all");
        for (let t = 0; t < chunk.length; t++) {
          await this.#classify(t, options);
          all.set(this.#state.logits.view, (start + t) * vocab);
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

  #check(tokens: readonly number[], position: number, options: ForwardOptions): void {
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
    const cache = options.kvCache ?? 0;
    if (!Number.isSafeInteger(cache) || cache < 0 || cache >= this.kvCaches) {
      throw new UsageError(
        `expected a KV cache index from 0 to ${this.kvCaches - 1}, found ${cache}`,
        { fix: "create the transformer with more kvCaches" },
      );
    }
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

  /** Runs one job of steps on every thread. */
  #run(...steps: Step[]): Promise<void> {
    return this.#pool.run(encodeSteps(steps));
  }

  /**
   * All blocks for one chunk of `T ≤ maxBatch` tokens at positions `position..`; leaves x.
   *
   * With `outputs = "last"` only the last token's row of x is made: every layer writes all T
   * tokens' keys and values into the cache, but the last layer's queries, attention, output
   * projection and feed-forward run for the last token alone, since no later step reads the
   * other tokens' rows (later chunks and decode read only the cache). In the 1B shape that is
   * 6% of a prefill's multiply-adds; the results are the same bits, because a kernel's result
   * for a token does not depend on how many tokens share its call.
   */
  async #blocks(
    tokens: readonly number[],
    position: number,
    options: ForwardOptions,
    outputs: "all" | "last",
  ) {
    const { dim, nLayers, nHeads, nKvHeads, headDim, kvDim, hiddenDim, normEps } = this.config;
    const s = this.#state, n = tokens.length;
    const heads = { nHeads, nKvHeads, headDim };
    // RoPE steps for the queries alone and for the keys alone (no heads of the other kind).
    const queryHeads = { ...heads, nKvHeads: 0 }, keyHeads = { ...heads, nHeads: 0 };
    const angles = { cos: s.ropeCos, sin: s.ropeSin };

    // x (T, dim) = embedding rows
    for (let t = 0; t < n; t++) this.#embedding.read(tokens[t], s.x.view, t * dim);

    // The output of the previous block, not yet added to x: each residual add is done by the
    // RMSNorm step that follows it.
    let residual: BufferRef | undefined = undefined;
    // Tokens [first, n) go through the whole block: all of them, but in the last layer maybe
    // only the last.
    const lastLayerFirst = outputs === "last" ? n - 1 : 0;
    for (let layer = 0; layer < nLayers; layer++) {
      options.signal?.throwIfAborted();
      options.onLayer?.(layer, nLayers);
      const w = this.#layers[layer];
      const cache = s.kvCaches[options.kvCache ?? 0];
      const keyCache = cache.keys[layer], valueCache = cache.values[layer];
      // This chunk's rows of the caches: keys and values are written there directly.
      const keys = rowOf(keyCache, position, kvDim), values = rowOf(valueCache, position, kvDim);
      const first = layer === nLayers - 1 ? lastLayerFirst : 0;
      // After the key and value products, m tokens go on: rows 0..m-1 of q, xb, xb2, hb, hb2
      // are tokens first..n-1.
      const m = n - first;
      const xbFirst = rowOf(s.xb, first, dim), xFirst = rowOf(s.x, first, dim);

      // Attention block. x += xb2 (the previous block's output); xb (T, dim) = rmsnorm(x)
      await this.#run(rmsNorm(s.xb, s.x, w.attentionNorm, dim, n, normEps, residual));
      // q (m, dim) = xb[first..] @ wq^T; keys, values (T, kvDim) = xb @ wk^T, xb @ wv^T
      await this.#run(
        matMul(s.q, xbFirst, w.wq, m),
        matMul(keys, s.xb, w.wk, n),
        matMul(values, s.xb, w.wv, n),
      );
      // Rotate queries and keys by their positions: m queries from token `first`, all n keys.
      await this.#run(
        rope(s.q, keys, angles, queryHeads, m, position + first, this.#ropeHalves),
        rope(s.q, keys, angles, keyHeads, n, position, this.#ropeHalves),
      );
      // xb (m, dim) = softmax(q k^T / sqrt(headDim)) v, causal, per query head
      await this.#run(attention(s.xb, s.q, keyCache, valueCache, heads, m, position + first));
      // xb2 (m, dim) = xb @ wo^T
      await this.#run(matMul(s.xb2, s.xb, w.wo, m));

      // Feed-forward block. x[first..] += xb2; xb = rmsnorm(x[first..]); hb (m, hidden) =
      // silu(xb @ w1^T) · (xb @ w3^T)
      await this.#run(rmsNorm(s.xb, xFirst, w.ffnNorm, dim, m, normEps, s.xb2));
      await this.#run(
        matMul(s.hb, s.xb, w.w1, m),
        matMul(s.hb2, s.xb, w.w3, m),
        swiGlu(s.hb, s.hb2, hiddenDim, m),
      );
      // xb2 (m, dim) = hb @ w2^T, added to x[first..] by the next norm
      await this.#run(matMul(s.xb2, s.hb, w.w2, m));
      residual = s.xb2;
    }
    // x[first..] += xb2: the last block's residual
    addInPlace(s.x.view.subarray(lastLayerFirst * dim), s.xb2.view, (n - lastLayerFirst) * dim);
  }

  /** logits (vocab,) = rmsnorm(x[t]) @ output^T, for token `t` of the last chunk. */
  async #classify(t: number, options: ForwardOptions) {
    const { dim, nLayers, normEps } = this.config;
    const s = this.#state;
    options.signal?.throwIfAborted();
    options.onLayer?.(nLayers, nLayers);
    await this.#run(rmsNorm(s.xb, rowOf(s.x, t, dim), this.#finalNorm, dim, 1, normEps));
    await this.#run(matMul(s.logits, s.xb, this.#output, 1));
  }
}

/** The block types among a checkpoint's tensors. */
function blockTypesOf(checkpoint: Checkpoint): BlockStorageType[] {
  const types = new Set<BlockStorageType>();
  for (const t of checkpoint.tensors.values()) if (isBlockType(t.type)) types.add(t.type);
  return [...types].sort();
}

/** Row `t` of a `(T, width)` buffer, as a reference for a step. */
function rowOf(buffer: BufferRef, t: number, width: number): BufferRef {
  return { byteOffset: buffer.byteOffset + 4 * t * width };
}

/** x[i] += y[i] for i < n. */
function addInPlace(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] += y[i];
}

/** Rows of the embedding table, widened to float32 one token at a time, whatever their type. */
class EmbeddingRows {
  #kernels: TsMatrixKernels;
  #matrix: ReturnType<TsMatrixKernels["view"]>;

  constructor(weights: ArrayBufferLike, ref: MatrixRef) {
    this.#kernels = TS_MATRIX_KERNELS[ref.type];
    this.#matrix = this.#kernels.view(weights, ref);
  }

  /** `out[offset ..] = embedding[token, :]`. */
  read(token: number, out: Float32Array, offset: number): void {
    this.#kernels.readRow(this.#matrix, token, out, offset);
  }
}
