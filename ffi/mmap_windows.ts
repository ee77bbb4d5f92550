/**
 * Memory mapping on Windows with `kernel32.dll`: `CreateFileW` →
 * `CreateFileMappingW` → `MapViewOfFile`, then both handles are closed at once;
 * `UnmapViewOfFile` when the owner is done.
 *
 * Constants, as Microsoft documents them (learn.microsoft.com):
 * - `GENERIC_READ = 0x80000000` — "Generic Access Rights" (winnt.h).
 * - `FILE_SHARE_READ = 0x00000001`, `OPEN_EXISTING = 3` — the `dwShareMode` and
 *   `dwCreationDisposition` tables of "CreateFileW function (fileapi.h)", which
 *   fails with `INVALID_HANDLE_VALUE`, i.e. `(HANDLE)(LONG_PTR)-1`.
 * - `PAGE_READONLY = 0x02` — "Memory Protection Constants"; `CreateFileMappingW`
 *   with maximum size 0/0 maps the file's current size and fails with `NULL`.
 * - `FILE_MAP_READ = 0x0004` (= `SECTION_MAP_READ`) — "File Mapping Security and
 *   Access Rights"; `MapViewOfFile` takes the offset as two DWORDs and the
 *   length as a `SIZE_T`, and fails with `NULL`.
 * - `FILE_ATTRIBUTE_NORMAL = 0x80` — "File Attribute Constants".
 * - "Closing a File Mapping Object": `CloseHandle` on the mapping and the file
 *   succeeds while views are still mapped; the view keeps them alive.
 *
 * Paths are passed as NUL-terminated UTF-16, which is what the `W` functions
 * take and what a JavaScript string already is.
 *
 * Not exercised by the test suite on Linux; `deno check` covers the types.
 *
 * @module
 */

import { MappingError } from "../lib/errors.ts";
import type { NativeMapper, NativeMapping } from "./native.ts";

const GENERIC_READ = 0x8000_0000;
const FILE_SHARE_READ = 0x0000_0001;
const OPEN_EXISTING = 3;
const FILE_ATTRIBUTE_NORMAL = 0x80;
const PAGE_READONLY = 0x02;
const FILE_MAP_READ = 0x0004;
/** `(HANDLE)(LONG_PTR)-1` as an unsigned 64-bit value. */
const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;

const SYMBOLS = {
  CreateFileW: {
    // lpFileName, dwDesiredAccess, dwShareMode, lpSecurityAttributes,
    // dwCreationDisposition, dwFlagsAndAttributes, hTemplateFile
    parameters: ["buffer", "u32", "u32", "pointer", "u32", "u32", "pointer"],
    result: "pointer",
  },
  CreateFileMappingW: {
    // hFile, lpFileMappingAttributes, flProtect, dwMaximumSizeHigh, dwMaximumSizeLow, lpName
    parameters: ["pointer", "pointer", "u32", "u32", "u32", "pointer"],
    result: "pointer",
  },
  MapViewOfFile: {
    // hFileMappingObject, dwDesiredAccess, dwFileOffsetHigh, dwFileOffsetLow, dwNumberOfBytesToMap
    parameters: ["pointer", "u32", "u32", "u32", "usize"],
    result: "pointer",
  },
  UnmapViewOfFile: { parameters: ["pointer"], result: "i32" },
  CloseHandle: { parameters: ["pointer"], result: "i32" },
  GetLastError: { parameters: [], result: "u32" },
} as const;

/** A JavaScript string as the NUL-terminated UTF-16 that `CreateFileW` reads. */
function utf16z(text: string): Uint16Array {
  const out = new Uint16Array(text.length + 1);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out; // out[text.length] stays 0
}

/**
 * Opens `kernel32.dll` and returns a mapper that uses it.
 *
 * @returns A mapper; throws if the library cannot be loaded.
 */
export function openWindowsMapper(): NativeMapper {
  const library = "kernel32.dll";
  const k = Deno.dlopen(library, SYMBOLS).symbols;

  function fail(path: string, what: string, code: number): never {
    throw new MappingError(`expected ${what} to succeed, it failed with error ${code}`, {
      path,
      fix: "check that the file exists and is readable, or run without --allow-ffi to read " +
        "the file into memory instead",
    });
  }

  function map(path: string, byteLength: number): NativeMapping {
    const file = k.CreateFileW(
      utf16z(path),
      GENERIC_READ,
      FILE_SHARE_READ,
      null,
      OPEN_EXISTING,
      FILE_ATTRIBUTE_NORMAL,
      null,
    );
    if (file === null || Deno.UnsafePointer.value(file) === INVALID_HANDLE_VALUE) {
      fail(path, "CreateFileW", k.GetLastError());
    }
    const section = k.CreateFileMappingW(file, null, PAGE_READONLY, 0, 0, null);
    if (section === null) {
      const code = k.GetLastError(); // before CloseHandle overwrites it
      k.CloseHandle(file);
      fail(path, "CreateFileMappingW", code);
    }
    const pointer = k.MapViewOfFile(section, FILE_MAP_READ, 0, 0, BigInt(byteLength));
    const code = pointer === null ? k.GetLastError() : 0;
    k.CloseHandle(section);
    k.CloseHandle(file);
    if (pointer === null) fail(path, `MapViewOfFile of ${byteLength} bytes`, code);

    let mapped = true;
    return {
      pointer,
      byteLength,
      unmap() {
        if (!mapped) return;
        mapped = false;
        if (k.UnmapViewOfFile(pointer) === 0) {
          throw new MappingError(`UnmapViewOfFile failed with error ${k.GetLastError()}`, {
            path,
          });
        }
      },
    };
  }

  return { library, map };
}
