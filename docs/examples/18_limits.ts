/**
 * Chapter 18's worked example: the physical limits of decode and prefill on this project's
 * machine, from the model's sizes and the measured ceilings of `bench/wasm_ceiling_bench.ts`.
 *
 * Decode reads every weight once per token, so its limit is memory bandwidth ÷ weight bytes per
 * token. Prefill reuses each weight for many tokens, so its limit is the multiply-add rate ÷
 * the multiply-adds per token.
 *
 * ```sh
 * deno run docs/examples/18_limits.ts
 * ```
 *
 * @module
 */

import { parseModelConfig } from "../../lib/model/config.ts";
import { PRESETS } from "../../lib/model/synthetic.ts";

/** The project's machine (2 vCPUs), as `bench/wasm_ceiling_bench.ts` measured it on two hosts. */
const HOSTS = [
  { name: "AMD EPYC host, 2026-11-28", readGBps: [15.9, 18.9], gflops: [50.5, 101] },
  { name: "Intel Xeon host, 2026-12-02", readGBps: [12.4, 22.4], gflops: [49, 89] },
];

for (const name of ["1b", "8b"] as const) {
  const preset = PRESETS[name];
  const c = parseModelConfig(JSON.stringify(preset.params), name);
  // Weights one token reads: every matrix of every layer, and the classifier (for a tied model
  // the embedding table again). The embedding lookup reads only one row.
  const perLayer = c.dim * c.dim * 2 + c.kvDim * c.dim * 2 + 3 * c.hiddenDim * c.dim;
  const weights = c.nLayers * perLayer + c.vocabSize * c.dim;
  const bytes = 2 * weights; // bf16
  const flops = 2 * weights; // one multiply-add per weight
  const kvPerPosition = c.nLayers * 2 * c.kvDim * 4; // float32 keys and values
  console.log(`${preset.description}`);
  console.log(
    `  per token: ${(weights / 1e9).toFixed(3)} G weights read = ${(bytes / 1e9).toFixed(2)} GB ` +
      `bf16, ${(flops / 1e9).toFixed(2)} GFLOP; KV cache ${kvPerPosition / 1024} KiB per position`,
  );
  for (const host of HOSTS) {
    console.log(`  on the ${host.name}:`);
    for (const threads of [1, 2]) {
      const gbps = host.readGBps[threads - 1], gflops = host.gflops[threads - 1];
      console.log(
        `    ${threads} thread(s): decode ≤ ${gbps} GB/s ÷ ${(bytes / 1e9).toFixed(2)} GB = ` +
          `${(gbps * 1e9 / bytes).toFixed(2)} tok/s (${
            (bytes / gbps / 1e6).toFixed(0)
          } ms/token); ` +
          `prefill ≤ ${gflops} GFLOP/s ÷ ${(flops / 1e9).toFixed(2)} GFLOP = ` +
          `${(gflops * 1e9 / flops).toFixed(1)} tok/s`,
      );
    }
  }
  const at8k = 8192 * kvPerPosition;
  console.log(
    `  at position 8192 decode also reads ${(at8k / 2 ** 20).toFixed(0)} MiB of KV cache ` +
      `(+${(100 * at8k / bytes).toFixed(0)}% over the weights)`,
  );
}
