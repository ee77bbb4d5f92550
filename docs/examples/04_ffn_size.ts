/**
 * Chapter 4's worked example: Meta's feed-forward size formula, step by step, for the Llama 3
 * models, next to `feedForwardHiddenDim` (what the loader uses), and the other sizes derived
 * from `params.json`.
 *
 * ```sh
 * deno run --allow-read --allow-env --allow-ffi docs/examples/04_ffn_size.ts
 * ```
 *
 * @module
 */

import { feedForwardHiddenDim, parseModelConfig } from "../../lib/model/config.ts";

/** Published `params.json` values of Meta's Llama 3.x models (sizes only). */
const MODELS = [
  {
    name: "Llama 3.2 1B",
    dim: 2048,
    n_heads: 32,
    n_kv_heads: 8,
    multiple_of: 256,
    ffn_dim_multiplier: 1.5,
  },
  {
    name: "Llama 3.2 3B",
    dim: 3072,
    n_heads: 24,
    n_kv_heads: 8,
    multiple_of: 256,
    ffn_dim_multiplier: 1.0,
  },
  {
    name: "Llama 3.1 8B",
    dim: 4096,
    n_heads: 32,
    n_kv_heads: 8,
    multiple_of: 1024,
    ffn_dim_multiplier: 1.3,
  },
  {
    name: "Llama 3.1 70B",
    dim: 8192,
    n_heads: 64,
    n_kv_heads: 8,
    multiple_of: 4096,
    ffn_dim_multiplier: 1.3,
  },
];

for (const m of MODELS) {
  const four = 4 * m.dim;
  const twoThirds = Math.trunc((2 * four) / 3);
  const scaled = Math.trunc(m.ffn_dim_multiplier * twoThirds);
  const rounded = m.multiple_of * Math.ceil(scaled / m.multiple_of);
  const ours = feedForwardHiddenDim(m.dim, m.multiple_of, m.ffn_dim_multiplier);
  const config = parseModelConfig(
    JSON.stringify({ ...m, name: undefined, n_layers: 1, vocab_size: 128256 }),
    `${m.name} params.json`,
  );
  console.log(`${m.name}: dim ${m.dim}`);
  const steps: [string, string][] = [
    ["4 · dim", `${four}`],
    [`int(2 · ${four} / 3)`, `${twoThirds}`],
    [`int(${m.ffn_dim_multiplier.toFixed(1)} · ${twoThirds})`, `${scaled}`],
    [
      `round up to a multiple of ${m.multiple_of}`,
      `${rounded} (${m.multiple_of} · ${rounded / m.multiple_of})`,
    ],
  ];
  for (const [left, right] of steps) console.log(`  ${left.padEnd(32)}= ${right}`);
  console.log(
    `  ${"feedForwardHiddenDim".padEnd(32)}= ${ours}${ours === rounded ? "" : "  MISMATCH"}`,
  );
  console.log(
    `  head_dim ${config.headDim}, kv_dim ${config.kvDim}, ` +
      `${config.nHeads / config.nKvHeads} query heads per key/value head\n`,
  );
}
