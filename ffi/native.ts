/**
 * The seam between {@link ./mmap.ts} and the operating system: one small
 * interface, {@linkcode NativeMapper}, implemented once per platform family in
 * `mmap_posix.ts` (Linux, macOS) and `mmap_windows.ts`. This module only picks
 * the implementation for `Deno.build.os` and loads its library once per
 * process; nothing else in the project branches on the operating system.
 *
 * @example
 * ```ts
 * import { loadNativeMapper } from "./native.ts";
 *
 * const mapper = loadNativeMapper();
 * if (typeof mapper !== "string") {
 *   const mapping = mapper.map("/models/consolidated.00.pth", 16_060_617_592);
 *   // ... read through Deno.UnsafePointerView.getArrayBuffer(mapping.pointer, ...)
 *   mapping.unmap();
 * }
 * ```
 *
 * @module
 */

import { openPosixMapper } from "./mmap_posix.ts";
import { openWindowsMapper } from "./mmap_windows.ts";

/** A whole file mapped read-only into this process's address space. */
export interface NativeMapping {
  /** Address of byte 0 of the file. */
  readonly pointer: Deno.PointerObject;
  /** Number of mapped bytes (the file size when it was mapped). */
  readonly byteLength: number;
  /** Releases the mapping. Call exactly once; the pointer is invalid afterwards. */
  unmap(): void;
}

/** Maps files with one operating system's native calls. */
export interface NativeMapper {
  /** The shared library the calls come from, for messages. */
  readonly library: string;
  /**
   * Maps the whole file at `path` read-only.
   *
   * @param path The file to map.
   * @param byteLength Its size in bytes, from `Deno.statSync`; must be > 0.
   * @returns The mapping; throws `MappingError` when a native call fails.
   */
  map(path: string, byteLength: number): NativeMapping;
}

let cached: NativeMapper | string | undefined;

/**
 * Loads the native mapper for this operating system, once per process.
 * The caller must have checked that `--allow-ffi` is granted.
 *
 * @returns The mapper, or a short reason (for the fallback note) when this
 * platform has none or its library cannot be loaded.
 */
export function loadNativeMapper(): NativeMapper | string {
  if (cached !== undefined) return cached;
  try {
    switch (Deno.build.os) {
      case "linux":
        cached = openPosixMapper("libc.so.6");
        break;
      case "darwin":
        cached = openPosixMapper("libSystem.B.dylib");
        break;
      case "windows":
        cached = openWindowsMapper();
        break;
      default:
        cached = `memory mapping is not implemented on ${Deno.build.os}`;
    }
  } catch (error) {
    // e.g. a musl-based Linux without libc.so.6: reading still works.
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    cached = `cannot load the C library for mapping (${reason})`;
  }
  return cached;
}
