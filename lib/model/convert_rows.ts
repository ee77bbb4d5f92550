/**
 * The rows of a checkpoint's matrices, widened to float32 and encoded as another storage type
 * (`convert`'s inner loop), on the calling thread or split between threads.
 *
 * Quantizing is what `convert` spends its time on: the K-quants' scale search costs 60–70 ns
 * per weight in TypeScript, about 10 minutes for the 8B's 8 billion on one core, so the rows of
 * each chunk are shared out between a {@linkcode Pool} of threads. The workers read the
 * weights from the same shared memory the checkpoint is mapped into and write their rows'
 * bytes into one shared output buffer, each row at its own place; every row is encoded the
 * same way whichever thread takes it, so the file is the same bytes for any thread count.
 *
 * @example
 * ```ts ignore
 * using rows = await RowConverter.start(checkpoint.weights, 2);
 * const bytes = await rows.convert(matrixOfTensor(tensor), "q8_0", 0, 16, 0);
 * // bytes: rows 0–15 as Q8_0, valid until the next call
 * ```
 *
 * @module
 */

import type { MatrixRef } from "../kernels/backend.ts";
import { TS_MATRIX_KERNELS } from "../kernels/ts_backend.ts";
import { type JobRunner, Pool } from "../parallel/pool.ts";
import { encodeRow } from "../tensor/encode_rows.ts";
import { STORAGE_TYPES, storageBytes, type StorageType } from "../tensor/storage.ts";
import type { WeightsMemory } from "../tensor/weights_memory.ts";

/** The worker module of a converter's pool (`deno compile` must `--include` it). */
export const CONVERT_WORKER_URL: URL = new URL("./convert_worker.ts", import.meta.url);

/** Bytes of encoded rows one call returns at most (four float32 mebi-elements). */
export const CONVERT_CHUNK_BYTES = 4 << 20;

/** What every thread of a converter is given once: the weights and the output buffer. */
export interface ConvertInit {
  readonly weights: WebAssembly.Memory;
  readonly out: SharedArrayBuffer;
}

/**
 * Which source row output row `row` reads when each head's rows go from Hugging Face's halves
 * (`[re_0 … re_{h/2-1}, im_0 … im_{h/2-1}]`) back to Meta's interleaved pairs (`re_0, im_0,
 * re_1, …`): output row `2i + c` of a head is its source row `c · h/2 + i`. With `heads` 0, the
 * row itself.
 *
 * @param row Output row.
 * @param rows Rows of the matrix.
 * @param heads Heads the rows make up (0: no reordering).
 * @returns The source row.
 */
export function sourceRow(row: number, rows: number, heads: number): number {
  if (heads === 0) return row;
  const headDim = rows / heads;
  const j = row % headDim;
  return row - j + (j % 2) * (headDim / 2) + Math.floor(j / 2);
}

/**
 * One thread's part of a job `[source type, byte offset, rows, cols, target type, first row,
 * row count, heads]`: it claims rows one at a time, widens each to float32 and writes its
 * encoding at `(row − first) · row bytes` of the output.
 *
 * @param init The weights and the output buffer.
 * @returns The runner.
 */
export function convertRunner(init: ConvertInit): JobRunner {
  const out = new Uint8Array(init.out);
  let floats = new Float32Array(0);
  return (words, _length, _share, _shares, claim) => {
    const ref: MatrixRef = {
      type: STORAGE_TYPES[words[0]],
      byteOffset: words[1],
      rows: words[2],
      cols: words[3],
    };
    const target = STORAGE_TYPES[words[4]];
    const first = words[5], count = words[6], heads = words[7];
    const kernels = TS_MATRIX_KERNELS[ref.type];
    const view = kernels.view(init.weights.buffer, ref);
    if (floats.length !== ref.cols) floats = new Float32Array(ref.cols);
    const rowBytes = storageBytes(target, ref.cols);
    for (let i = claim(); i < count; i = claim()) {
      kernels.readRow(view, sourceRow(first + i, ref.rows, heads), floats, 0);
      encodeRow(target, floats, out.subarray(i * rowBytes, (i + 1) * rowBytes));
    }
  };
}

/** Encodes rows of the checkpoint's matrices, on one thread or several. */
export class RowConverter implements Disposable {
  #pool: Pool;
  #out: Uint8Array;

  private constructor(pool: Pool, out: SharedArrayBuffer) {
    this.#pool = pool;
    this.#out = new Uint8Array(out);
  }

  /**
   * Starts a converter over the weights with `threads − 1` workers.
   *
   * @param weights The checkpoint's weights memory.
   * @param threads Threads, the caller included (1: the caller alone).
   * @returns The converter; close it when done.
   */
  static async start(weights: WeightsMemory, threads: number): Promise<RowConverter> {
    const init: ConvertInit = {
      weights: weights.memory,
      out: new SharedArrayBuffer(CONVERT_CHUNK_BYTES),
    };
    const pool = await Pool.start({
      threads,
      runner: convertRunner(init),
      workerUrl: CONVERT_WORKER_URL,
      init,
    });
    return new RowConverter(pool, init.out);
  }

  /**
   * Rows `first … first + count − 1` of a matrix, read in the order `heads` gives (see
   * {@linkcode sourceRow}) and encoded as `target`.
   *
   * @param ref The matrix in the weights memory.
   * @param target The type to encode as.
   * @param first First row.
   * @param count Rows; their bytes at most {@linkcode CONVERT_CHUNK_BYTES}.
   * @param heads Heads to reorder from halves to pairs (0: none).
   * @returns The bytes, a view that the next call overwrites.
   * @throws {RangeError} When the rows do not fit one chunk.
   */
  async convert(
    ref: MatrixRef,
    target: StorageType,
    first: number,
    count: number,
    heads: number,
  ): Promise<Uint8Array> {
    const bytes = count * storageBytes(target, ref.cols);
    if (bytes > this.#out.length) {
      throw new RangeError(
        `expected rows of at most ${this.#out.length} bytes in one chunk, got ${bytes}`,
      );
    }
    await this.#pool.run([
      STORAGE_TYPES.indexOf(ref.type),
      ref.byteOffset,
      ref.rows,
      ref.cols,
      STORAGE_TYPES.indexOf(target),
      first,
      count,
      heads,
    ]);
    return this.#out.subarray(0, bytes);
  }

  /** Stops the workers. Idempotent. */
  close(): void {
    this.#pool.close();
  }

  /** Same as {@linkcode RowConverter.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
