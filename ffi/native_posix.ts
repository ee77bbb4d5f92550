/**
 * Placing file pages inside a WebAssembly memory on Linux (`libc.so.6`) and macOS
 * (`libSystem.B.dylib`): `open` → `mmap(address, length, PROT_READ | PROT_WRITE,
 * MAP_PRIVATE | MAP_FIXED, fd, offset)` → `close`. `MAP_FIXED` replaces whatever was mapped at
 * that address (the memory's anonymous pages) with the file's; `close` does not end the
 * mapping, which holds its own reference to the file. Undoing it maps anonymous zero pages
 * over the same range with `MAP_FIXED | MAP_ANONYMOUS`.
 *
 * Constants (Linux `<sys/mman.h>`, macOS `<sys/mman.h>`): `PROT_READ = 1`, `PROT_WRITE = 2`,
 * `MAP_PRIVATE = 2`, `MAP_FIXED = 0x10` on both; `MAP_ANONYMOUS` is `0x20` on Linux and
 * `MAP_ANON = 0x1000` on macOS. `O_RDONLY = 0`. A failed `mmap` returns `(void *)-1`.
 *
 * @module
 */

import { MappingError } from "./errors.ts";
import type { NativeMemory } from "./native_types.ts";

const O_RDONLY = 0;
const PROT_READ_WRITE = 1 | 2;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
/** `(void *)-1` as an unsigned 64-bit address. */
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

const SYMBOLS = {
  // int open(const char *path, int flags, ...); the variadic mode is only read with O_CREAT.
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  // int *: where errno lives. glibc and musl name it __errno_location, macOS __error.
  __errno_location: { parameters: [], result: "pointer", optional: true },
  __error: { parameters: [], result: "pointer", optional: true },
} as const;

/**
 * Opens the C library and returns the calls that place file pages in memory.
 *
 * @param library `libc.so.6` (Linux) or `libSystem.B.dylib` (macOS).
 * @param mapAnonymous The platform's `MAP_ANONYMOUS` flag.
 * @returns The native memory calls; throws if the library cannot be loaded.
 */
export function openPosixMemory(library: string, mapAnonymous: number): NativeMemory {
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

  function fixedMap(address: bigint, length: number, flags: number, fd: number, offset: number) {
    const wanted = Deno.UnsafePointer.create(address);
    const got = c.mmap(wanted, BigInt(length), PROT_READ_WRITE, flags, fd, BigInt(offset));
    const value = got === null ? 0n : Deno.UnsafePointer.value(got);
    return value === MAP_FAILED || value !== address ? lastError() : null;
  }

  return {
    library,
    mapFileAt(address, length, path, fileOffset) {
      const fd = c.open(new TextEncoder().encode(path + "\0"), O_RDONLY);
      if (fd < 0) {
        throw new MappingError(
          `expected to open the file for mapping, open failed with ${lastError()}`,
          {
            path,
            fix: "check that the file exists and that this user may read it",
          },
        );
      }
      const failed = fixedMap(address, length, MAP_PRIVATE | MAP_FIXED, fd, fileOffset);
      c.close(fd);
      if (failed !== null) {
        throw new MappingError(
          `expected mmap to place ${length} bytes of the file in memory, it failed with ${failed}`,
          {
            path,
            fix: "map a regular file on a local disk, or run without --allow-ffi to copy the " +
              "weights into memory instead",
          },
        );
      }
    },
    zeroPagesAt(address, length) {
      const failed = fixedMap(address, length, MAP_PRIVATE | MAP_FIXED | mapAnonymous, -1, 0);
      if (failed !== null) {
        throw new MappingError(`expected mmap to release the file's pages: ${failed}`);
      }
    },
  };
}
