/**
 * Every buffer the forward pass writes, allocated once (llama2.c's `RunState`).
 *
 * All of them are float32 in `SharedArrayBuffer`s so that the pool's workers see the same
 * memory: the main thread and each worker build their own typed-array views over the same
 * buffers with {@linkcode RunState.fromBuffers}. Activations hold up to `maxBatch` tokens (a
 * prefill chunk); the KV cache holds `contextLength` positions per layer.
 *
 * @module
 */

/** The sizes a {@linkcode RunState} is built from. */
export interface StateSizes {
  /** Model width. */
  readonly dim: number;
  /** Width of all key (or value) heads. */
  readonly kvDim: number;
  /** Feed-forward width. */
  readonly hiddenDim: number;
  /** Transformer blocks (one KV cache each). */
  readonly nLayers: number;
  /** Logits per token. */
  readonly vocabSize: number;
  /** Positions in the KV cache. */
  readonly contextLength: number;
  /** Most tokens in one forward pass. */
  readonly maxBatch: number;
}

/** The shared buffers behind a {@linkcode RunState}; what is posted to workers. */
export interface StateBuffers {
  /** What they were allocated for. */
  readonly sizes: StateSizes;
  /** See {@linkcode RunState.x}. */
  readonly x: SharedArrayBuffer;
  /** See {@linkcode RunState.xb}. */
  readonly xb: SharedArrayBuffer;
  /** See {@linkcode RunState.xb2}. */
  readonly xb2: SharedArrayBuffer;
  /** See {@linkcode RunState.q}. */
  readonly q: SharedArrayBuffer;
  /** See {@linkcode RunState.hb}. */
  readonly hb: SharedArrayBuffer;
  /** See {@linkcode RunState.hb2}. */
  readonly hb2: SharedArrayBuffer;
  /** See {@linkcode RunState.keyCache}. */
  readonly keyCache: readonly SharedArrayBuffer[];
  /** See {@linkcode RunState.valueCache}. */
  readonly valueCache: readonly SharedArrayBuffer[];
  /** See {@linkcode RunState.logits}. */
  readonly logits: SharedArrayBuffer;
}

function floats(n: number): SharedArrayBuffer {
  return new SharedArrayBuffer(n * 4);
}

/** Views of the forward pass's buffers. Shapes are per batch of `T ≤ maxBatch` tokens. */
export class RunState {
  /** The buffers, for posting to workers. */
  readonly buffers: StateBuffers;
  /** Residual stream `(T, dim)`. */
  readonly x: Float32Array;
  /** Normalized input of a block, then attention output `(T, dim)`. */
  readonly xb: Float32Array;
  /** Output of `wo` and of `w2` before the residual add `(T, dim)`. */
  readonly xb2: Float32Array;
  /** Queries `(T, nHeads · headDim)`. */
  readonly q: Float32Array;
  /** `w1 x`, then `silu(w1 x) · w3 x` `(T, hiddenDim)`. */
  readonly hb: Float32Array;
  /** `w3 x` `(T, hiddenDim)`. */
  readonly hb2: Float32Array;
  /** Keys per layer `(contextLength, kvDim)`, RoPE applied. */
  readonly keyCache: readonly Float32Array[];
  /** Values per layer `(contextLength, kvDim)`. */
  readonly valueCache: readonly Float32Array[];
  /** Logits of the last token `(vocabSize,)`. */
  readonly logits: Float32Array;

  /**
   * Views over existing buffers (in a worker, or after {@linkcode RunState.allocate}).
   *
   * @param buffers The shared buffers.
   */
  constructor(buffers: StateBuffers) {
    this.buffers = buffers;
    this.x = new Float32Array(buffers.x);
    this.xb = new Float32Array(buffers.xb);
    this.xb2 = new Float32Array(buffers.xb2);
    this.q = new Float32Array(buffers.q);
    this.hb = new Float32Array(buffers.hb);
    this.hb2 = new Float32Array(buffers.hb2);
    this.keyCache = buffers.keyCache.map((b) => new Float32Array(b));
    this.valueCache = buffers.valueCache.map((b) => new Float32Array(b));
    this.logits = new Float32Array(buffers.logits);
  }

  /**
   * Allocates the buffers. The KV cache is `2 · nLayers · contextLength · kvDim` floats; the
   * operating system backs its pages only as positions are written.
   *
   * @param sizes Model and run sizes.
   * @returns The state.
   */
  static allocate(sizes: StateSizes): RunState {
    const { dim, kvDim, hiddenDim, nLayers, vocabSize, contextLength, maxBatch } = sizes;
    const cache = () => Array.from({ length: nLayers }, () => floats(contextLength * kvDim));
    return new RunState({
      sizes: { ...sizes },
      x: floats(maxBatch * dim),
      xb: floats(maxBatch * dim),
      xb2: floats(maxBatch * dim),
      q: floats(maxBatch * dim),
      hb: floats(maxBatch * hiddenDim),
      hb2: floats(maxBatch * hiddenDim),
      keyCache: cache(),
      valueCache: cache(),
      logits: floats(vocabSize),
    });
  }
}
