/**
 * Chapter 12's worked examples: SiLU next to ReLU, one SwiGLU gate, the feed-forward size of
 * Meta's formula, and the feed-forward block's share of the 8B model's weights.
 *
 * ```sh
 * deno run docs/examples/12_swiglu.ts
 * ```
 *
 * @module
 */

import { silu, swiGlu } from "../../lib/kernels/silu.ts";
import { feedForwardHiddenDim, parseModelConfig } from "../../lib/model/config.ts";
import { PRESETS } from "../../lib/model/synthetic.ts";

console.log("   x    relu(x)   silu(x)");
for (const x of [-6, -2, -1, -0.5, 0, 0.5, 1, 2, 6]) {
  console.log(
    `${String(x).padStart(4)}   ${Math.max(0, x).toFixed(4).padStart(7)}   ` +
      `${silu(x).toFixed(4).padStart(7)}`,
  );
}

// gate = w1 x, up = w3 x for three hidden units; swiGlu overwrites gate with silu(gate) · up.
const gate = new Float32Array([2, -2, 0.5]), up = new Float32Array([1, 1, -3]);
swiGlu(gate, up, 0, 3);
console.log(`\nsilu([2, -2, 0.5]) · [1, 1, -3] = [${Array.from(gate, (g) => g.toFixed(4))}]`);

// Meta's FeedForward size: 2/3 of 4·dim, times ffn_dim_multiplier, rounded up to multiple_of.
for (const name of ["8b", "1b", "tiny"] as const) {
  const p = PRESETS[name].params;
  const twoThirds = Math.trunc((2 * 4 * p.dim) / 3);
  const scaled = Math.trunc(p.ffn_dim_multiplier! * twoThirds);
  console.log(
    `${name.padEnd(4)}: 2·4·${p.dim}/3 = ${twoThirds}; × ${p.ffn_dim_multiplier} = ${scaled}; ` +
      `up to a multiple of ${p.multiple_of}: ` +
      `${feedForwardHiddenDim(p.dim, p.multiple_of, p.ffn_dim_multiplier)}`,
  );
}

// Where the 8B's parameters are.
const c = parseModelConfig(JSON.stringify(PRESETS["8b"].params), "8b preset");
const attention = c.nLayers * (2 * c.dim * c.dim + 2 * c.kvDim * c.dim);
const feedForward = c.nLayers * 3 * c.hiddenDim * c.dim;
const embeddings = 2 * c.vocabSize * c.dim; // tok_embeddings and output (not tied in 8B)
const norms = (2 * c.nLayers + 1) * c.dim;
const total = attention + feedForward + embeddings + norms;
const row = (what: string, n: number) =>
  console.log(
    `${what.padEnd(28)} ${(n / 1e6).toFixed(1).padStart(7)} M params  ${
      ((100 * n) / total).toFixed(1).padStart(4)
    }%  ${(2 * n / 1e9).toFixed(2).padStart(5)} GB bf16`,
  );
console.log("");
row("feed-forward (w1, w2, w3)", feedForward);
row("attention (wq, wk, wv, wo)", attention);
row("embeddings + output", embeddings);
row("norms", norms);
row("total", total);
