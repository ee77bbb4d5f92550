/**
 * The one interface between llama-bolts and the operating system's memory calls, implemented
 * once per platform family (`native_posix.ts` for Linux and macOS) and picked by `native.ts`.
 * Kept in its own file so that the implementations and the picker do not import each other.
 *
 * @module
 */

/** Places file pages inside memory this process already owns (a WebAssembly memory). */
export interface NativeMemory {
  /** The shared library the calls come from, for messages. */
  readonly library: string;
  /**
   * Replaces the pages at `[address, address + length)` with the bytes of `path` from
   * `fileOffset` on, read-only in spirit but mapped writable and private (copy-on-write), as a
   * WebAssembly memory's pages must stay writable. The file's pages are shared with the
   * operating system's page cache: nothing is copied or read until touched.
   *
   * @param address Page-aligned address inside memory the caller owns.
   * @param length Bytes to map (the tail of the last page reads as zeros).
   * @param path The file.
   * @param fileOffset Page-aligned offset in the file.
   * @throws {MappingError} When the file cannot be opened or mapped.
   */
  mapFileAt(address: bigint, length: number, path: string, fileOffset: number): void;
  /**
   * Replaces the pages at `[address, address + length)` with fresh zero pages, dropping any
   * file mapped there: a thread still reading them afterwards reads zeros instead of crashing.
   *
   * @param address Page-aligned address.
   * @param length Bytes.
   */
  zeroPagesAt(address: bigint, length: number): void;
}
