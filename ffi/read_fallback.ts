/**
 * The fallback when a file cannot be memory-mapped (no `--allow-ffi`, or
 * mapping turned off): read it into a `SharedArrayBuffer`, so that workers can
 * still see the same bytes without a copy each.
 *
 * The file is read straight into the shared buffer in chunks, with no
 * intermediate buffer, so a 16 GB checkpoint costs 16 GB of memory, not 32.
 *
 * @example
 * ```ts
 * import { readFileShared } from "./read_fallback.ts";
 *
 * const bytes = new Uint8Array(readFileShared("params.json", Deno.statSync("params.json").size));
 * ```
 *
 * @module
 */

import { MappingError } from "../lib/errors.ts";

/** 64 MiB: large enough that system call overhead does not matter. */
const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * Reads a whole file into a new `SharedArrayBuffer`.
 *
 * @param path The file to read.
 * @param byteLength Its size in bytes, from `Deno.statSync`.
 * @param chunkBytes The largest single read; only tests change it.
 * @returns A shared buffer of exactly `byteLength` bytes holding the file.
 */
export function readFileShared(
  path: string,
  byteLength: number,
  chunkBytes: number = DEFAULT_CHUNK_BYTES,
): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(byteLength);
  using file = Deno.openSync(path, { read: true });
  let done = 0;
  while (done < byteLength) {
    const want = Math.min(chunkBytes, byteLength - done);
    const got = file.readSync(new Uint8Array(buffer, done, want));
    if (got === null || got === 0) {
      throw new MappingError(
        `expected ${byteLength} bytes, the file ended after ${done}; it shrank while being read`,
        { path, fix: "wait until the file is completely written or copied, then try again" },
      );
    }
    done += got;
  }
  return buffer;
}
