/**
 * Read-only memory mapping of whole files, so that a 16 GB checkpoint costs no
 * copy and no read at startup: the operating system pages weights in as the
 * forward pass touches them.
 *
 * {@linkcode openMappedFile} returns a {@linkcode MappedFile} that owns the
 * mapping and releases it exactly once (`close()` or `using`). Its `buffer` is
 * an `ArrayBuffer` over the mapped bytes; typed arrays over it are zero-copy
 * views into the file. Its `shared` description crosses `postMessage` to Web
 * Workers, which rebuild a buffer over the same bytes with
 * {@linkcode viewSharedMapping}.
 *
 * Mapping needs `--allow-ffi`. Without it (or with `preferMmap: false`) the file
 * is read into a `SharedArrayBuffer` instead; everything else works the same,
 * and a one-line note on stderr says so once per process.
 *
 * The mapping is read-only: writing through `buffer` crashes the process.
 *
 * @example
 * ```ts
 * import { openMappedFile } from "./mmap.ts";
 *
 * using file = openMappedFile("/models/Llama3.2-1B-Instruct/consolidated.00.pth");
 * const magic = new Uint8Array(file.buffer, 0, 4); // "PK\x03\x04": a zip archive
 * const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
 * worker.postMessage(file.shared); // the worker calls viewSharedMapping(shared)
 * ```
 *
 * @module
 */

import { MappingError } from "../lib/errors.ts";
import { loadNativeMapper } from "./native.ts";
import { readFileShared } from "./read_fallback.ts";

/** How a worker reaches the same bytes without copying. */
export type SharedMapping =
  /** Mapped: the worker rebuilds a buffer at this address with `Deno.UnsafePointerView`. */
  | { readonly kind: "address"; readonly address: bigint; readonly byteLength: number }
  /** Fallback (no `--allow-ffi`): the file was read into this shared buffer. */
  | { readonly kind: "buffer"; readonly buffer: SharedArrayBuffer };

/** A whole file made available as memory; the single owner of that memory. */
export interface MappedFile extends Disposable {
  /** The path the file was opened with. */
  readonly path: string;
  /** File size in bytes. */
  readonly byteLength: number;
  /** `true` when memory-mapped, `false` when read into memory (fallback or empty file). */
  readonly mapped: boolean;
  /** The file's bytes. Throws `MappingError` after `close()`. */
  readonly buffer: ArrayBufferLike;
  /** What to `postMessage` to a worker. Throws `MappingError` after `close()`. */
  readonly shared: SharedMapping;
  /** Releases the memory. Idempotent: the mapping is unmapped exactly once. */
  close(): void;
}

/** Options of {@linkcode openMappedFile}. */
export interface MapOptions {
  /**
   * Map the file when `--allow-ffi` is granted (default `true`). `false` always
   * reads it into a `SharedArrayBuffer`, without a note.
   */
  preferMmap?: boolean;
}

let fallbackNoted = false;

/** The fallback note, printed on the first fallback of the process only. */
function noteFallback(reason: string, path: string): void {
  if (fallbackNoted) return;
  fallbackNoted = true;
  console.error(`note: ${reason}; reading ${path} into memory instead of mapping it`);
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

/**
 * Detaches a mapped buffer before the memory under it goes away, so that
 * stale typed arrays read as length 0 instead of touching unmapped pages.
 *
 * `transfer(0)` hands the backing store to a new, empty buffer without copying
 * a byte (measured: 0.04 ms for a 5 GiB mapping). Buffers that workers rebuilt
 * with {@linkcode viewSharedMapping} live in other isolates and cannot be
 * detached from here: stop the workers before closing the file.
 */
function detach(buffer: ArrayBufferLike): void {
  if (buffer instanceof ArrayBuffer && !buffer.detached) buffer.transfer(0);
}

class OwnedFile implements MappedFile {
  readonly path: string;
  readonly byteLength: number;
  readonly mapped: boolean;
  #buffer: ArrayBufferLike | null;
  #shared: SharedMapping | null;
  #release: () => void;

  constructor(
    path: string,
    mapped: boolean,
    buffer: ArrayBufferLike,
    shared: SharedMapping,
    release: () => void,
  ) {
    this.path = path;
    this.byteLength = buffer.byteLength;
    this.mapped = mapped;
    this.#buffer = buffer;
    this.#shared = Object.freeze(shared);
    this.#release = release;
  }

  get buffer(): ArrayBufferLike {
    if (this.#buffer === null) throw this.#closedError();
    return this.#buffer;
  }

  get shared(): SharedMapping {
    if (this.#shared === null) throw this.#closedError();
    return this.#shared;
  }

  close(): void {
    const buffer = this.#buffer;
    if (buffer === null) return;
    this.#buffer = null;
    this.#shared = null;
    detach(buffer);
    this.#release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #closedError(): MappingError {
    return new MappingError("expected an open file, it was used after close()", {
      path: this.path,
      fix: "keep the file (or the checkpoint that owns it) open until its tensors are no " +
        "longer used, and close it last",
    });
  }
}

/**
 * Makes a whole file available as memory: mapped read-only when `--allow-ffi`
 * is granted, otherwise read into a `SharedArrayBuffer`. An empty file gives an
 * empty buffer (nothing is mapped).
 *
 * @param path The file to open.
 * @param options `preferMmap: false` reads instead of mapping.
 * @returns The owner of the memory; close it (or `using` it) when done.
 * @throws {MappingError} When the file is missing, not a regular file, not
 * readable, or the operating system refuses to map it.
 *
 * @example
 * ```ts
 * import { openMappedFile } from "./mmap.ts";
 *
 * using file = openMappedFile("params.json");
 * const text = new TextDecoder().decode(new Uint8Array(file.buffer));
 * ```
 */
export function openMappedFile(path: string, options: MapOptions = {}): MappedFile {
  let byteLength: number;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) {
      throw new MappingError(
        `expected a regular file, found a ${info.isDirectory ? "directory" : "special file"}`,
        { path, fix: "pass the path of the file itself, not of its folder" },
      );
    }
    byteLength = info.size;
  } catch (error) {
    throw error instanceof MappingError ? error : fileError(error, path);
  }

  // mmap of 0 bytes is an error on every platform; an empty file needs no memory.
  if (byteLength === 0) {
    const empty = new SharedArrayBuffer(0);
    return new OwnedFile(path, false, empty, { kind: "buffer", buffer: empty }, () => {});
  }

  if (options.preferMmap ?? true) {
    const mapper = Deno.permissions.querySync({ name: "ffi" }).state === "granted"
      ? loadNativeMapper()
      : "--allow-ffi not granted";
    if (typeof mapper === "string") {
      noteFallback(mapper, path);
    } else {
      const mapping = mapper.map(path, byteLength);
      let buffer: ArrayBuffer;
      try {
        buffer = Deno.UnsafePointerView.getArrayBuffer(mapping.pointer, byteLength);
      } catch (error) {
        mapping.unmap(); // no owner exists yet to do it
        throw error;
      }
      const address = Deno.UnsafePointer.value(mapping.pointer);
      return new OwnedFile(
        path,
        true,
        buffer,
        { kind: "address", address, byteLength },
        () => mapping.unmap(),
      );
    }
  }

  let buffer: SharedArrayBuffer;
  try {
    buffer = readFileShared(path, byteLength);
  } catch (error) {
    throw error instanceof MappingError ? error : fileError(error, path);
  }
  return new OwnedFile(path, false, buffer, { kind: "buffer", buffer }, () => {});
}

/**
 * Rebuilds, in a worker, a buffer over the same bytes as the `MappedFile`
 * whose `shared` was posted to it. Nothing is copied. For a mapped file the
 * worker needs `--allow-ffi` (workers inherit the parent's permissions by
 * default), and the owner must not close the file while the worker uses it.
 *
 * @param shared `MappedFile.shared`, received through `postMessage`.
 * @returns An `ArrayBuffer` over the mapping, or the fallback's `SharedArrayBuffer`.
 *
 * @example
 * ```ts
 * import { type SharedMapping, viewSharedMapping } from "./mmap.ts";
 *
 * // In the worker module:
 * addEventListener("message", (event) => {
 *   const shared = (event as MessageEvent<SharedMapping>).data;
 *   const weights = new Uint16Array(viewSharedMapping(shared));
 * });
 * ```
 */
export function viewSharedMapping(shared: SharedMapping): ArrayBufferLike {
  if (shared.kind === "buffer") return shared.buffer;
  let pointer: Deno.PointerValue;
  try {
    pointer = Deno.UnsafePointer.create(shared.address);
    if (pointer !== null) return Deno.UnsafePointerView.getArrayBuffer(pointer, shared.byteLength);
  } catch (error) {
    throw new MappingError("expected --allow-ffi in this worker to view the mapped file", {
      fix: "create the worker without narrowing its permissions, or pass preferMmap: false",
      cause: error,
    });
  }
  throw new MappingError("expected the address of a mapped file, found a null address", {
    fix: "post `MappedFile.shared` of an open, mapped file",
  });
}
