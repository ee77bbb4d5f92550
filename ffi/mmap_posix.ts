/**
 * Memory mapping on Linux (`libc.so.6`) and macOS (`libSystem.B.dylib`) with
 * `open` → `mmap` → `close`, and `munmap` when the owner is done.
 *
 * The constants are the same on both systems (Linux `<fcntl.h>`/`<sys/mman.h>`,
 * macOS `<sys/fcntl.h>`/`<sys/mman.h>`): `O_RDONLY = 0`, `PROT_READ = 1`,
 * `MAP_SHARED = 1`, and a failed `mmap` returns `MAP_FAILED = (void *)-1`,
 * not `NULL`.
 *
 * The descriptor is closed right after `mmap`: POSIX `mmap` adds its own
 * reference to the file, which `close` does not remove, so the mapping stays
 * valid and no descriptor is held for the life of the model.
 *
 * @module
 */

import { MappingError } from "../lib/errors.ts";
import type { NativeMapper, NativeMapping } from "./native.ts";

const O_RDONLY = 0;
const PROT_READ = 1;
const MAP_SHARED = 1;
/** `(void *)-1` as an unsigned 64-bit address. */
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

const SYMBOLS = {
  // int open(const char *path, int flags, ...); the variadic mode is only read with O_CREAT.
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
  // size_t and off_t are 64-bit: "usize"/"i64" carry lengths and offsets past 4 GiB.
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  // int *: where errno lives. glibc and musl name it __errno_location, macOS __error.
  __errno_location: { parameters: [], result: "pointer", optional: true },
  __error: { parameters: [], result: "pointer", optional: true },
} as const;

/**
 * Opens the C library and returns a mapper that uses it.
 *
 * @param library `libc.so.6` (Linux) or `libSystem.B.dylib` (macOS).
 * @returns A mapper; throws if the library cannot be loaded.
 */
export function openPosixMapper(library: string): NativeMapper {
  const c = Deno.dlopen(library, SYMBOLS).symbols;
  const errnoAddress = c.__errno_location ?? c.__error;

  /** `errno` of the last failed call, as "errno 12 (Cannot allocate memory)". */
  function lastError(): string {
    const where = errnoAddress?.() ?? null;
    if (where === null) return "errno unknown";
    const errno = new Deno.UnsafePointerView(where).getInt32();
    const text = c.strerror(errno);
    return text === null
      ? `errno ${errno}`
      : `errno ${errno} (${Deno.UnsafePointerView.getCString(text)})`;
  }

  function map(path: string, byteLength: number): NativeMapping {
    const cPath = new TextEncoder().encode(path + "\0");
    const fd = c.open(cPath, O_RDONLY);
    if (fd < 0) {
      throw new MappingError(
        `expected to open the file for mapping, open failed with ${lastError()}`,
        {
          path,
          fix: "check that the file exists and that this user may read it",
        },
      );
    }
    const length = BigInt(byteLength);
    const pointer = c.mmap(null, length, PROT_READ, MAP_SHARED, fd, 0n);
    const failed = pointer === null || Deno.UnsafePointer.value(pointer) === MAP_FAILED;
    // Read errno before close() can overwrite it.
    const reason = failed ? lastError() : "";
    c.close(fd);
    if (failed) {
      throw new MappingError(
        `expected mmap to map ${byteLength} bytes read-only, it failed with ${reason}`,
        {
          path,
          fix: "map a regular file on a local disk, free address space, or run without " +
            "--allow-ffi to read the file into memory instead",
        },
      );
    }
    let mapped = true;
    return {
      pointer,
      byteLength,
      unmap() {
        if (!mapped) return;
        mapped = false;
        if (c.munmap(pointer, length) !== 0) {
          throw new MappingError(`munmap failed with ${lastError()}`, { path });
        }
      },
    };
  }

  return { library, map };
}
