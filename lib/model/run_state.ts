/**
 * Every buffer the forward pass writes, allocated once (llama2.c's `RunState`), inside one
 * shared 64-bit WebAssembly memory: the WebAssembly kernels address it directly, every worker
 * receives the same memory, and the cheap steps in JavaScript view the same bytes as
 * `Float32Array`s. Activations hold up to `maxBatch` tokens (a prefill chunk); the KV cache
 * holds `contextLength` positions per layer; each worker has its own scratch at the end.
 *
 * A buffer is a {@linkcode StateBuffer}: its byte offset (what kernels receive) and a view (what
 * JavaScript uses). The operating system backs pages only once they are written, so a long
 * context costs memory only as it fills.
 *
 * @example
 * ```ts
 * import { RunState } from "./run_state.ts";
 *
 * const s = RunState.allocate({
 *   dim: 64, kvDim: 16, hiddenDim: 192, nLayers: 2, nHeads: 4, vocabSize: 256,
 *   contextLength: 128, maxBatch: 16, threads: 2,
 * });
 * s.x.view[0] = 1; // the residual stream of token 0
 * ```
 *
 * @module
 */

import { MappingError } from "../errors.ts";
import { MAX_MEMORY_BYTES, sharedMemory64 } from "../tensor/weights_memory.ts";

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
  /** Query heads (sizes the attention scratch). */
  readonly nHeads: number;
  /** Logits per token. */
  readonly vocabSize: number;
  /** Positions in the KV cache. */
  readonly contextLength: number;
  /** Most tokens in one forward pass. */
  readonly maxBatch: number;
  /** Threads that each need their own scratch (at least 1). */
  readonly threads: number;
  /** Separate KV caches, one per conversation kept at once (default 1). */
  readonly kvCaches?: number;
}

/** One conversation's keys and values: per layer `(contextLength, kvDim)`. */
export interface KvCache {
  /** Keys per layer, RoPE applied. */
  readonly keys: readonly StateBuffer[];
  /** Values per layer. */
  readonly values: readonly StateBuffer[];
}

/** A float32 buffer of the state: where kernels find it, and a view for JavaScript. */
export interface StateBuffer {
  /** Byte offset in the state memory. */
  readonly byteOffset: number;
  /** Number of floats. */
  readonly floats: number;
  /** The floats. */
  readonly view: Float32Array;
}

/** One thread's scratch: packed inputs of a matrix product, attention scores. */
export interface Scratch {
  readonly byteOffset: number;
  readonly byteLength: number;
}

const ALIGN = 64; // a cache line: no two buffers share one

/** The forward pass's buffers. Shapes are per batch of `T ≤ maxBatch` tokens. */
export class RunState {
  /** The memory every buffer lives in. */
  readonly memory: WebAssembly.Memory;
  readonly sizes: StateSizes;
  /** Residual stream `(T, dim)`. */
  readonly x: StateBuffer;
  /** Normalized input of a block, then attention output `(T, dim)`. */
  readonly xb: StateBuffer;
  /** Output of `wo` and of `w2` before the residual add `(T, dim)`. */
  readonly xb2: StateBuffer;
  /** Queries `(T, nHeads · headDim)`. */
  readonly q: StateBuffer;
  /** `w1 x`, then `silu(w1 x) · w3 x` `(T, hiddenDim)`. */
  readonly hb: StateBuffer;
  /** `w3 x` `(T, hiddenDim)`. */
  readonly hb2: StateBuffer;
  /** Keys per layer `(contextLength, kvDim)`, RoPE applied (of KV cache 0). */
  readonly keyCache: readonly StateBuffer[];
  /** Values per layer `(contextLength, kvDim)` (of KV cache 0). */
  readonly valueCache: readonly StateBuffer[];
  /** Every KV cache (`sizes.kvCaches` of them); the first is `keyCache`/`valueCache`. */
  readonly kvCaches: readonly KvCache[];
  /** Logits of one token `(vocabSize,)`. */
  readonly logits: StateBuffer;
  /**
   * The RMSNorm weights as float32 `(2 · nLayers + 1, dim)`, where every thread's kernels read
   * them: each layer's attention norm, then its feed-forward norm; the final norm last.
   */
  readonly norms: StateBuffer;
  /**
   * RoPE's tables `(contextLength, headDim / 2)`, as `RopeTable` holds them: the cosines and the
   * sines of each position's angles.
   */
  readonly ropeCos: StateBuffer;
  readonly ropeSin: StateBuffer;
  /** Per-thread scratch. */
  readonly scratch: readonly Scratch[];

  private constructor(memory: WebAssembly.Memory, sizes: StateSizes, layout: Layout) {
    this.memory = memory;
    this.sizes = sizes;
    const buffer = memory.buffer;
    const at = (slot: Slot): StateBuffer => ({
      byteOffset: slot.byteOffset,
      floats: slot.floats,
      view: new Float32Array(buffer, slot.byteOffset, slot.floats),
    });
    this.x = at(layout.x);
    this.xb = at(layout.xb);
    this.xb2 = at(layout.xb2);
    this.q = at(layout.q);
    this.hb = at(layout.hb);
    this.hb2 = at(layout.hb2);
    this.kvCaches = layout.kvCaches.map((cache) => ({
      keys: cache.keys.map(at),
      values: cache.values.map(at),
    }));
    this.keyCache = this.kvCaches[0].keys;
    this.valueCache = this.kvCaches[0].values;
    this.logits = at(layout.logits);
    this.norms = at(layout.norms);
    this.ropeCos = at(layout.ropeCos);
    this.ropeSin = at(layout.ropeSin);
    this.scratch = layout.scratch;
  }

  /**
   * Allocates the memory and lays the buffers out in it.
   *
   * @param sizes Model and run sizes.
   * @returns The state.
   * @throws {MappingError} When the buffers need more than 16 GiB (a very long context).
   */
  static allocate(sizes: StateSizes): RunState {
    const layout = planLayout(sizes);
    if (layout.bytes > MAX_MEMORY_BYTES) {
      throw new MappingError(
        `expected the KV cache and activations to fit 16 GiB (a WebAssembly memory's limit), ` +
          `they need ${(layout.bytes / 2 ** 30).toFixed(2)} GiB at context ${sizes.contextLength}`,
        { fix: "pass a shorter --context" },
      );
    }
    return new RunState(sharedMemory64(layout.bytes), sizes, layout);
  }

  /**
   * Bytes of scratch each thread needs: the packed inputs of the widest matrix product of a
   * batch, or the scores of attention over the whole context, whichever is larger.
   *
   * @param sizes Model and run sizes.
   * @returns Bytes per thread.
   */
  static scratchBytes(sizes: StateSizes): number {
    const { dim, hiddenDim, maxBatch, nHeads, contextLength } = sizes;
    return roundUp(4 * Math.max(maxBatch * Math.max(dim, hiddenDim), nHeads * contextLength));
  }
}

interface Slot {
  readonly byteOffset: number;
  readonly floats: number;
}

interface Layout {
  readonly x: Slot;
  readonly xb: Slot;
  readonly xb2: Slot;
  readonly q: Slot;
  readonly hb: Slot;
  readonly hb2: Slot;
  readonly logits: Slot;
  readonly norms: Slot;
  readonly ropeCos: Slot;
  readonly ropeSin: Slot;
  readonly kvCaches: { keys: Slot[]; values: Slot[] }[];
  readonly scratch: Scratch[];
  readonly bytes: number;
}

function roundUp(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}

/** Buffers one after another: activations, logits, each KV cache layer by layer, scratch. */
function planLayout(sizes: StateSizes): Layout {
  const { dim, kvDim, hiddenDim, nLayers, vocabSize, contextLength, maxBatch, threads } = sizes;
  let next = 0;
  const slot = (floats: number): Slot => {
    const s = { byteOffset: next, floats };
    next += roundUp(floats * 4);
    return s;
  };
  const x = slot(maxBatch * dim), xb = slot(maxBatch * dim), xb2 = slot(maxBatch * dim);
  const q = slot(maxBatch * dim);
  const hb = slot(maxBatch * hiddenDim), hb2 = slot(maxBatch * hiddenDim);
  const logits = slot(vocabSize);
  const norms = slot((2 * nLayers + 1) * dim);
  const pairs = dim / sizes.nHeads / 2;
  const ropeCos = slot(contextLength * pairs), ropeSin = slot(contextLength * pairs);
  const kvCaches: Layout["kvCaches"] = [];
  for (let c = 0; c < Math.max(1, sizes.kvCaches ?? 1); c++) {
    const keys: Slot[] = [], values: Slot[] = [];
    for (let layer = 0; layer < nLayers; layer++) {
      keys.push(slot(contextLength * kvDim));
      values.push(slot(contextLength * kvDim));
    }
    kvCaches.push({ keys, values });
  }
  const scratchBytes = RunState.scratchBytes(sizes);
  const scratch: Scratch[] = [];
  for (let t = 0; t < Math.max(1, threads); t++) {
    scratch.push({ byteOffset: next, byteLength: scratchBytes });
    next += scratchBytes;
  }
  return {
    x,
    xb,
    xb2,
    q,
    hb,
    hb2,
    logits,
    norms,
    ropeCos,
    ropeSin,
    kvCaches,
    scratch,
    bytes: next,
  };
}
