/**
 * The fallback when a file cannot be mapped into memory (no `--allow-ffi`, Windows): read it
 * straight into the destination in chunks, with no intermediate buffer, so a 16 GB checkpoint
 * costs 16 GB of memory, not 32.
 *
 * @example
 * ```ts
 * import { readFileInto } from "./read_fallback.ts";
 *
 * const target = new Uint8Array(Deno.statSync("params.json").size);
 * readFileInto("params.json", target);
 * ```
 *
 * @module
 */

import { MappingError } from "./errors.ts";

/** 64 MiB: large enough that system call overhead does not matter. */
const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * Reads the first `target.length` bytes of a file into `target`.
 *
 * @param path The file to read.
 * @param target Where its bytes go; its length is the number of bytes read.
 * @param chunkBytes The largest single read; only tests change it.
 * @param onProgress Called after each chunk with the bytes read so far.
 * @throws {MappingError} When the file is shorter than `target`.
 */
export function readFileInto(
  path: string,
  target: Uint8Array,
  chunkBytes: number = DEFAULT_CHUNK_BYTES,
  onProgress?: (done: number) => void,
): void {
  using file = Deno.openSync(path, { read: true });
  let done = 0;
  while (done < target.length) {
    const want = Math.min(chunkBytes, target.length - done);
    const got = file.readSync(target.subarray(done, done + want));
    if (got === null || got === 0) {
      throw new MappingError(
        `expected ${target.length} bytes, the file ended after ${done}; it shrank while being read`,
        { path, fix: "wait until the file is completely written or copied, then try again" },
      );
    }
    done += got;
    onProgress?.(done);
  }
}
