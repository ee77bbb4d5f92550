/**
 * The model's weights inside one WebAssembly memory, where both backends read them: the
 * WebAssembly kernels address it directly, the TypeScript kernels and the parsers view it
 * through `memory.buffer`. Nothing is copied when the files can be mapped (`ffi/place_file.ts`):
 * each file's pages are placed at a 64 KiB-aligned offset of the memory, in the order given.
 *
 * The memory is shared (`SharedArrayBuffer` underneath), so it crosses `postMessage` to the
 * workers as it is, and 64-bit (memory64), so that it can hold Llama 3.1 8B's 15 GiB: V8 accepts
 * up to 16 GiB. A 64-bit memory costs the kernels nothing extra here: Deno runs WebAssembly
 * without V8's trap handler, so 32-bit memories get the same explicit bounds check per access
 * (`bench/memory_bench.ts` measures both).
 *
 * @example
 * ```ts
 * import { WeightsMemory } from "./weights_memory.ts";
 *
 * using weights = WeightsMemory.open(["/models/Llama3.2-1B/consolidated.00.pth"]);
 * const file = weights.files[0];
 * file.bytes[0]; // 0x50: "PK", a zip archive, read where the file's page lies in the memory
 * ```
 *
 * @module
 */

import {
  placeFile,
  type Placement,
  regularFileSize,
  WASM_PAGE_BYTES,
} from "../../ffi/place_file.ts";
import { MappingError } from "../errors.ts";

/** The most a 64-bit WebAssembly memory can hold in V8: 16 GiB. */
export const MAX_MEMORY_BYTES = 16 * 2 ** 30;

/** One file inside the memory. */
export interface WeightsFile {
  /** The path it was opened with. */
  readonly path: string;
  /** Where its byte 0 lies in the memory (a multiple of 64 KiB). */
  readonly byteOffset: number;
  /** Its size. */
  readonly byteLength: number;
  /** Its bytes, viewed in the memory (element 0 is the file's byte 0). */
  readonly bytes: Uint8Array;
}

/** Options of {@linkcode WeightsMemory.open}. */
export interface WeightsMemoryOptions {
  /** Map the files when `--allow-ffi` allows it (default `true`); `false` copies them. */
  preferMmap?: boolean;
}

/** A shared 64-bit WebAssembly memory holding model files; close it when done. */
export class WeightsMemory implements Disposable {
  /** The memory, to import into kernel modules and post to workers. */
  readonly memory: WebAssembly.Memory;
  /** The files, in the order they were given. */
  readonly files: readonly WeightsFile[];
  /** `true` when every file is mapped, `false` when any was copied. */
  readonly mapped: boolean;
  #placements: Placement[];
  #closed = false;

  private constructor(
    memory: WebAssembly.Memory,
    files: WeightsFile[],
    placements: Placement[],
  ) {
    this.memory = memory;
    this.files = files;
    this.#placements = placements;
    this.mapped = placements.every((p) => p.mapped);
  }

  /**
   * Creates the memory and places every file in it.
   *
   * @param paths The model's files (a checkpoint, or every shard of one).
   * @param options Mapping preference.
   * @returns The memory; close it (or `using` it) when done.
   * @throws {MappingError} When a file is missing or unreadable, or all of them together do not
   * fit 16 GiB.
   */
  static open(paths: readonly string[], options: WeightsMemoryOptions = {}): WeightsMemory {
    const sizes = paths.map((path) => regularFileSize(path));
    const offsets: number[] = [];
    let total = 0;
    for (const size of sizes) {
      offsets.push(total);
      total += Math.ceil(size / WASM_PAGE_BYTES) * WASM_PAGE_BYTES;
    }
    if (total > MAX_MEMORY_BYTES) {
      throw new MappingError(
        `expected model files of at most 16 GiB in all (a WebAssembly memory's limit), found ` +
          `${(total / 2 ** 30).toFixed(2)} GiB`,
        { path: paths[0], fix: "use a smaller model, or a quantized GGUF file of it" },
      );
    }
    const memory = sharedMemory64(Math.max(WASM_PAGE_BYTES, total));
    const placements: Placement[] = [];
    try {
      for (let i = 0; i < paths.length; i++) {
        placements.push(placeFile(memory, offsets[i], paths[i], sizes[i], options));
      }
    } catch (error) {
      for (const placement of placements) placement.release();
      throw error;
    }
    const files = paths.map((path, i) => ({
      path,
      byteOffset: offsets[i],
      byteLength: sizes[i],
      bytes: new Uint8Array(memory.buffer, offsets[i], sizes[i]),
    }));
    return new WeightsMemory(memory, files, placements);
  }

  /** The memory's bytes (a `SharedArrayBuffer`). */
  get buffer(): SharedArrayBuffer {
    if (this.#closed) {
      throw new MappingError("expected open weights, they were used after close()", {
        fix: "close the model only after generation ends",
      });
    }
    return this.memory.buffer as unknown as SharedArrayBuffer;
  }

  /** Total bytes of the files. */
  get byteLength(): number {
    return this.files.reduce((sum, f) => sum + f.byteLength, 0);
  }

  /**
   * Releases the mapped pages (they read as zeros afterwards). Stop the workers first. The
   * memory itself is freed when no thread refers to it any more. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const placement of this.#placements) placement.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A shared 64-bit WebAssembly memory of fixed size (what the weights, the run state and the
 * kernels' tests all use): shared so that every worker reads the same bytes, 64-bit so that it
 * may pass 4 GiB.
 *
 * @param bytes Its size, rounded up to whole 64 KiB pages.
 * @returns The memory.
 */
export function sharedMemory64(bytes: number): WebAssembly.Memory {
  const pages = BigInt(Math.ceil(bytes / WASM_PAGE_BYTES));
  return new WebAssembly.Memory({
    initial: pages,
    maximum: pages,
    shared: true,
    address: "i64",
  } as unknown as WebAssembly.MemoryDescriptor);
}
