/**
 * The seam between the forward pass's heavy steps and the code that computes them: a
 * {@linkcode KernelBackend} multiplies a stored weight matrix by activations and attends over
 * the KV cache, whatever the weights' storage type. Two backends implement it:
 *
 * - `ts` (`ts_backend.ts`): the plain TypeScript kernels of this folder, the readable reference
 *   and the fallback.
 * - `wasm` (`wasm/backend.ts`): WebAssembly SIMD kernels our TypeScript emits, the default.
 *
 * Both read the same two memories: `weights` (the model's files, `WeightsMemory`) and `state`
 * (activations, KV cache and scratch, `RunState`). Every address is a byte offset into one of
 * them, so a call carries nothing but numbers and works the same on any thread.
 *
 * @module
 */

import type { StorageType } from "../tensor/storage.ts";

/** The backend names, as `--kernels` takes them. */
export type BackendName = "ts" | "wasm";

/** A weight matrix in the weights memory: `rows × cols` elements of `type`, row-major. */
export interface MatrixRef {
  readonly type: StorageType;
  /** Byte offset of row 0 in the weights memory. */
  readonly byteOffset: number;
  /** Output features. */
  readonly rows: number;
  /** Input features. */
  readonly cols: number;
}

/** The kernels one thread runs. Offsets are bytes in the state memory. */
export interface KernelBackend {
  readonly name: BackendName;
  /**
   * `out[t · outStride + r] = W[r, :] · X[t, :]` for tokens `t < tokens` and rows `r` in
   * `[rowStart, rowEnd)`, where `X[t, j]` is float `t · cols + j` at `x`.
   *
   * @param w The weights.
   * @param x Input rows (float32, `cols` per token).
   * @param out Output (float32).
   * @param outStride Floats between tokens' rows in `out`.
   * @param tokens Number of tokens.
   * @param rowStart First row.
   * @param rowEnd One past the last row.
   */
  matMul(
    w: MatrixRef,
    x: number,
    out: number,
    outStride: number,
    tokens: number,
    rowStart: number,
    rowEnd: number,
  ): void;
  /**
   * Says that a new job begins: the state memory may have changed since the last call. A
   * backend that keeps what it derived from an input (the WebAssembly kernels' quantized or
   * packed X in the scratch) drops it here; within a job, it reuses it for every product with
   * the same input, since a job's products read inputs that no step of the job writes.
   */
  newJob?(): void;
  /**
   * The SwiGLU gate of the feed-forward block: `gate[t, i] = silu(gate[t, i]) · up[t, i]` for
   * tokens `t < tokens` and `i` in `[start, end)`, where `[t, i]` is float `t · rowFloats + i`.
   *
   * @param gate `w1 x` (float32), overwritten with the gated product.
   * @param up `w3 x`.
   * @param rowFloats Floats between tokens' rows.
   * @param tokens Number of tokens.
   * @param start First element of each row.
   * @param end One past the last.
   */
  swiGlu(
    gate: number,
    up: number,
    rowFloats: number,
    tokens: number,
    start: number,
    end: number,
  ): void;
  /**
   * RMSNorm of `tokens` rows of `n` floats, the residual add before it fused in: for each
   * token, `x += residual` (when `residual` is given), then `out = x / sqrt(mean(x²) + eps) ·
   * weight`. Rows are `n` floats apart; `out` may be `x`.
   * @param x The rows (float32), updated with the residual.
   * @param residual Rows added to `x` first, or `undefined`.
   * @param out Where the normalized rows go.
   * @param weight The `n` learned scales (float32, in the state memory).
   * @param n Floats per row.
   * @param tokens Number of rows.
   * @param eps Added to the mean square.
   */
  rmsNorm(
    x: number,
    residual: number | undefined,
    out: number,
    weight: number,
    n: number,
    tokens: number,
    eps: number,
  ): void;
  /**
   * RoPE: rotates the first `heads` heads (`headDim` floats each) of `tokens` rows, row `t`
   * (`rowFloats` floats after row `t − 1`) at position `position + t`, by the angles of the
   * tables at `cos` and `sin` (`headDim / 2` floats per position, as `RopeTable` holds them).
   * @param v The rows (float32), rotated in place.
   * @param rowFloats Floats between rows.
   * @param heads Heads per row.
   * @param headDim Floats per head.
   * @param tokens Number of rows.
   * @param position Position of row 0.
   * @param cos The cosine table (float32, in the state memory).
   * @param sin The sine table.
   * @param halves Hugging Face's layout (pairs half a head apart) instead of Meta's.
   */
  rope(
    v: number,
    rowFloats: number,
    heads: number,
    headDim: number,
    tokens: number,
    position: number,
    cos: number,
    sin: number,
    halves: boolean,
  ): void;
  /**
   * Attention of `kvHeads · kvGroup` consecutive query heads of one token: query head `h`
   * reads key/value head `⌊h / kvGroup⌋` over positions `0 .. positions − 1`.
   *
   * @param q The first query head (float32, `headDim` per head).
   * @param out Where its output goes.
   * @param keys Position 0 of the first key/value head in the key cache.
   * @param values The same in the value cache.
   * @param rowFloats Floats between cache positions (`kvDim`).
   * @param headDim Size of one head.
   * @param kvHeads Key/value heads.
   * @param kvGroup Query heads per key/value head.
   * @param positions Positions to attend to.
   */
  attention(
    q: number,
    out: number,
    keys: number,
    values: number,
    rowFloats: number,
    headDim: number,
    kvHeads: number,
    kvGroup: number,
    positions: number,
  ): void;
}

/** What a thread needs to build its backend; structured-clonable, posted to each worker. */
export interface BackendInit {
  readonly backend: BackendName;
  /** The weights memory. */
  readonly weights: WebAssembly.Memory;
  /** The state memory. */
  readonly state: WebAssembly.Memory;
  /** The compiled kernel module (for `wasm`). */
  readonly module?: WebAssembly.Module;
  /** This thread's scratch in the state memory: byte offset and size. */
  readonly scratch: { readonly byteOffset: number; readonly byteLength: number };
  /** Largest `headDim · kvGroup · contextLength` the attention scratch must hold. */
  readonly maxScores: number;
  /** Largest matrix width, for the TypeScript kernels' row scratch. */
  readonly maxCols: number;
  /**
   * `wasm`: one-token block products in 1-row tiles (true), in the kernel plan's multi-row
   * tiles (false), or whichever the first calls time faster (absent; `wasm/decode_rows.ts`).
   */
  readonly oneRowDecode?: boolean;
}
