/**
 * Chapter 2's worked example: places the demo model's `consolidated.00.pth` inside a shared
 * 64-bit WebAssembly memory the way the loader does (`WeightsMemory.open`), then counts the page
 * faults the operating system takes when the program reads one byte of every page (Linux and
 * macOS; elsewhere it prints only what it can).
 *
 * ```sh
 * deno task demo   # once: writes ~/.cache/llama-bolts/demo-tiny
 * LLAMA_MODEL=~/.cache/llama-bolts/demo-tiny \
 *   deno run --allow-read --allow-env --allow-ffi docs/examples/02_page_faults.ts
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { WeightsMemory } from "../../lib/tensor/weights_memory.ts";

const dir = Deno.env.get("LLAMA_MODEL");
if (!dir) {
  console.error("set LLAMA_MODEL to a model folder, e.g. ~/.cache/llama-bolts/demo-tiny");
  Deno.exit(2);
}
const path = join(dir, "consolidated.00.pth");

const LIBC = { linux: "libc.so.6", darwin: "libSystem.B.dylib" }[Deno.build.os as string];
const libc = LIBC
  ? Deno.dlopen(LIBC, { getrusage: { parameters: ["i32", "buffer"], result: "i32" } })
  : undefined;

/**
 * Minor and major page faults of this process so far, from `getrusage(RUSAGE_SELF)` called
 * through `Deno.dlopen` (Deno guards `/proc/self`). `struct rusage` on 64-bit Linux and macOS:
 * two `timeval`s (16 bytes each), then longs: `ru_maxrss` at byte 32, `ru_minflt` at 64,
 * `ru_majflt` at 72.
 */
function faults(): { minor: number; major: number } | undefined {
  if (!libc) return undefined;
  const usage = new BigInt64Array(18);
  if (libc.symbols.getrusage(0, usage) !== 0) return undefined;
  return { minor: Number(usage[8]), major: Number(usage[9]) };
}

const started = performance.now();
using weights = WeightsMemory.open([path]);
const openMs = performance.now() - started;
const file = weights.files[0];
console.log(`file            ${path}`);
console.log(`size            ${file.byteLength.toLocaleString("en")} bytes`);
console.log(
  `placed          ${weights.mapped ? "mapped (mmap, MAP_FIXED)" : "copied"} in ${
    openMs.toFixed(2)
  } ms`,
);
console.log(
  `memory          ${weights.buffer.byteLength.toLocaleString("en")} bytes, shared: ${
    weights.buffer instanceof SharedArrayBuffer
  }`,
);
console.log(
  `first bytes     ${
    [...file.bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ")
  } ("PK", a zip archive)`,
);

const before = faults();
const t0 = performance.now();
let sum = 0;
for (let i = 0; i < file.byteLength; i += 4096) sum += file.bytes[i]; // one byte per 4 KiB page
const touchMs = performance.now() - t0;
const after = faults();
const pages = Math.ceil(file.byteLength / 4096);
console.log(
  `read one byte of each of ${pages.toLocaleString("en")} pages in ${
    touchMs.toFixed(1)
  } ms (checksum ${sum})`,
);
if (before && after) {
  console.log(
    `page faults     minor +${after.minor - before.minor}, major +${after.major - before.major}`,
  );
}
