/**
 * Run by `tests/mmap_test.ts` as `deno run --allow-read tests/helpers/mmap_no_ffi.ts FILE...`
 * (no `--allow-ffi`). Opens every file twice and prints one JSON line per open
 * with how it was loaded and its bytes in hex, so the test can check the
 * fallback and that its stderr note appears once per process.
 *
 * @module
 */

import { openMappedFile } from "../../ffi/mmap.ts";

for (const path of [...Deno.args, ...Deno.args]) {
  using file = openMappedFile(path);
  const bytes = new Uint8Array(file.buffer);
  console.log(JSON.stringify({
    path,
    mapped: file.mapped,
    kind: file.shared.kind,
    shared: file.buffer instanceof SharedArrayBuffer,
    byteLength: file.byteLength,
    hex: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
  }));
}
