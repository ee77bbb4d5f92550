/**
 * Picks the {@linkcode NativeMemory} implementation for `Deno.build.os` and loads its library
 * once per process; nothing else in the project branches on the operating system.
 *
 * Windows has none: `MapViewOfFile` maps a view at an address of the system's choosing (or
 * into a placeholder reservation made for it), never over memory V8 already reserved for a
 * WebAssembly memory, so on Windows weights are copied into the memory instead.
 *
 * @example
 * ```ts
 * import { loadNativeMemory } from "./native.ts";
 *
 * const native = loadNativeMemory();
 * if (typeof native === "string") console.error(`cannot map: ${native}`);
 * ```
 *
 * @module
 */

import { openPosixMemory } from "./native_posix.ts";
import type { NativeMemory } from "./native_types.ts";

export type { NativeMemory } from "./native_types.ts";

let cached: NativeMemory | string | undefined;

/**
 * Loads the native memory calls for this operating system, once per process. The caller must
 * have checked that `--allow-ffi` is granted.
 *
 * @returns The calls, or a short reason (for the copy note) when this platform has none.
 */
export function loadNativeMemory(): NativeMemory | string {
  if (cached !== undefined) return cached;
  try {
    switch (Deno.build.os) {
      case "linux":
        cached = openPosixMemory("libc.so.6", 0x20);
        break;
      case "darwin":
        cached = openPosixMemory("libSystem.B.dylib", 0x1000);
        break;
      case "windows":
        cached = "Windows cannot map a file into WebAssembly memory (MapViewOfFile cannot be " +
          "placed over V8's reservation)";
        break;
      default:
        cached = `mapping into WebAssembly memory is not implemented on ${Deno.build.os}`;
    }
  } catch (error) {
    // e.g. a musl-based Linux without libc.so.6: copying still works.
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    cached = `cannot load the C library for mapping (${reason})`;
  }
  return cached;
}
