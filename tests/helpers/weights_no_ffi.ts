/**
 * Run by `tests/weights_memory_test.ts` as `deno run --allow-read
 * tests/helpers/weights_no_ffi.ts FILE...` (no `--allow-ffi`). Opens the files into a weights
 * memory twice and prints one JSON line per open with how they were placed and their bytes in
 * hex, so the test can check the copy and that its stderr note appears once per process.
 *
 * @module
 */

import { WeightsMemory } from "../../lib/tensor/weights_memory.ts";

for (let round = 0; round < 2; round++) {
  using weights = WeightsMemory.open(Deno.args);
  console.log(JSON.stringify({
    mapped: weights.mapped,
    files: weights.files.map((f) => ({
      path: f.path,
      byteOffset: f.byteOffset,
      hex: Array.from(f.bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
    })),
  }));
}
