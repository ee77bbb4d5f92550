/**
 * Putting a whole file inside a `WebAssembly.Memory`, so that kernels compiled to WebAssembly
 * (which can only address their own memory) read the weights where they are, and JavaScript
 * views the same bytes through `memory.buffer`.
 *
 * With `--allow-ffi` on Linux or macOS the file is **mapped** there: `mmap` with `MAP_FIXED`
 * replaces the memory's pages at a page-aligned offset by the file's pages (0.05 ms for a
 * 15 GiB file; resident memory counts as file-backed page cache, not as this process's own).
 * Elsewhere, or without `--allow-ffi`, the file is **copied** in with ordinary reads, and a
 * one-line note on stderr says so once per process, with the memory it takes.
 *
 * @example
 * ```ts
 * import { placeFile } from "./place_file.ts";
 *
 * const size = Deno.statSync("model.gguf").size;
 * const memory = new WebAssembly.Memory({ initial: Math.ceil(size / 65536) });
 * using placed = placeFile(memory, 0, "model.gguf", size);
 * const magic = new Uint8Array(memory.buffer, 0, 4); // the file's first bytes
 * ```
 *
 * @module
 */

import { MappingError } from "./errors.ts";
import { loadNativeMemory } from "./native.ts";
import { readFileInto } from "./read_fallback.ts";

/** Bytes of a WebAssembly page: files are placed at multiples of it. */
export const WASM_PAGE_BYTES = 65536;

/** A file placed in a memory; `release()` gives the pages back. */
export interface Placement extends Disposable {
  /** `true` when mapped, `false` when copied. */
  readonly mapped: boolean;
  /**
   * Drops a mapping (the range then reads as zeros, so a thread still reading it does not
   * crash); nothing to do for a copy. Idempotent.
   */
  release(): void;
}

/** Options of {@linkcode placeFile}. */
export interface PlaceOptions {
  /** Map when possible (default `true`); `false` always copies, without a note. */
  preferMmap?: boolean;
  /** Called while copying, with the bytes copied so far. */
  onCopyProgress?: (done: number, total: number) => void;
}

let copyNoted = false;

/**
 * Places the first `byteLength` bytes of `path` at `offset` in `memory`.
 *
 * @param memory The destination (shared or not; 32- or 64-bit).
 * @param offset Where file byte 0 goes: a multiple of {@linkcode WASM_PAGE_BYTES}.
 * @param path The file.
 * @param byteLength Its size (from `Deno.statSync`).
 * @param options Mapping preference, copy progress.
 * @returns The placement.
 * @throws {MappingError} When the range does not fit the memory or the file cannot be read.
 */
export function placeFile(
  memory: WebAssembly.Memory,
  offset: number,
  path: string,
  byteLength: number,
  options: PlaceOptions = {},
): Placement {
  if (offset % WASM_PAGE_BYTES !== 0 || offset + byteLength > memory.buffer.byteLength) {
    throw new MappingError(
      `expected ${byteLength} bytes at offset ${offset} to fit a ${memory.buffer.byteLength}-byte ` +
        "memory at a 64 KiB boundary",
      { path },
    );
  }
  if (byteLength === 0) return { mapped: false, release() {}, [Symbol.dispose]() {} };

  if (options.preferMmap ?? true) {
    const native = Deno.permissions.querySync({ name: "ffi" }).state === "granted"
      ? loadNativeMemory()
      : "--allow-ffi not granted";
    if (typeof native !== "string") {
      const view = new Uint8Array(memory.buffer, offset, byteLength);
      const address = Deno.UnsafePointer.value(Deno.UnsafePointer.of(view));
      native.mapFileAt(address, byteLength, path, 0);
      let mapped = true;
      const release = () => {
        if (!mapped) return;
        mapped = false;
        native.zeroPagesAt(address, byteLength);
      };
      return { mapped: true, release, [Symbol.dispose]: release };
    }
    if (!copyNoted) {
      copyNoted = true;
      console.error(
        `note: ${native}; copying ${path} into memory instead of mapping it ` +
          `(${(byteLength / 2 ** 30).toFixed(2)} GiB of RAM)`,
      );
    }
  }
  try {
    readFileInto(path, new Uint8Array(memory.buffer, offset, byteLength), undefined, (done) => {
      options.onCopyProgress?.(done, byteLength);
    });
  } catch (error) {
    throw error instanceof MappingError ? error : fileError(error, path);
  }
  return { mapped: false, release() {}, [Symbol.dispose]() {} };
}

/**
 * The size of a regular file, or a `MappingError` that names the path and a fix.
 *
 * @param path The file.
 * @returns Its size in bytes.
 * @throws {MappingError} When it is missing, not a regular file or not readable.
 */
export function regularFileSize(path: string): number {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    throw fileError(error, path);
  }
  if (!info.isFile) {
    throw new MappingError(
      `expected a regular file, found a ${info.isDirectory ? "directory" : "special file"}`,
      { path, fix: "pass the path of the file itself, not of its folder" },
    );
  }
  return info.size;
}

/** Turns a Deno file-system error into a `MappingError` that names the path and a fix. */
function fileError(error: unknown, path: string): MappingError {
  if (error instanceof Deno.errors.NotFound) {
    return new MappingError("expected a file, found nothing at that path", {
      path,
      fix: "check the spelling of the path and that the download finished",
      cause: error,
    });
  }
  if (error instanceof Deno.errors.NotCapable) {
    return new MappingError("expected read permission, Deno denied reading the file", {
      path,
      fix: "run deno with --allow-read (the `deno task llama` task grants it)",
      cause: error,
    });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new MappingError("expected a readable file, the operating system denied access", {
      path,
      fix: "give this user read access to the file (for example `chmod a+r`)",
      cause: error,
    });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new MappingError(`cannot read the file: ${reason}`, { path, cause: error });
}
