/**
 * Chapter 13's worked example: the forward pass written out step by step for one token, with
 * the shape of every intermediate, on a real checkpoint (the demo model by default), then
 * checked against `Transformer.forward` on the same tokens. With `--shapes 8b` it prints the
 * same walk for Llama 3.1 8B's sizes instead (no weights needed): shapes, weights read and
 * multiply-adds of every step.
 *
 * The example widens every weight to float32 and uses the plain kernels (`matVecF32`,
 * `rmsNorm`, `rope`, `attendHead`, `swiGlu`), one call per head, so it reads like the math;
 * the engine does the same with fewer, larger calls.
 *
 * ```sh
 * deno task demo                                        # writes the demo model once
 * deno run --allow-read --allow-env --allow-ffi docs/examples/13_one_token.ts [MODEL_DIR]
 * deno run docs/examples/13_one_token.ts --shapes 8b
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { LlamaError } from "../../lib/errors.ts";
import { attendHead } from "../../lib/kernels/attention.ts";
import { matVecF32 } from "../../lib/kernels/matvec.ts";
import { rmsNorm } from "../../lib/kernels/rmsnorm.ts";
import { rope, ropeTable } from "../../lib/kernels/rope.ts";
import { swiGlu } from "../../lib/kernels/silu.ts";
import { loadCheckpoint, tensorFloats } from "../../lib/model/checkpoint.ts";
import { type ModelConfig, parseModelConfig } from "../../lib/model/config.ts";
import { PRESETS } from "../../lib/model/synthetic.ts";
import { Transformer } from "../../lib/model/transformer.ts";

/** `<|begin_of_text|>`, then "Hello" (Llama 3's id 9906). */
const TOKENS = [128000, 9906];

if (Deno.args[0] === "--shapes") {
  const preset = PRESETS[(Deno.args[1] ?? "8b") as keyof typeof PRESETS];
  printShapes(parseModelConfig(JSON.stringify(preset.params), "preset"));
} else {
  const dir = Deno.args[0] || Deno.env.get("LLAMA_MODEL") ||
    join(Deno.env.get("HOME") ?? ".", ".cache", "llama-bolts", "demo-tiny");
  try {
    await traceForward(dir);
  } catch (error) {
    if (!(error instanceof LlamaError)) throw error;
    console.error(`error: ${error.message}`);
    console.error(
      "(this example reads the demo model: run 'deno task demo' first, or pass a folder)",
    );
    Deno.exit(1);
  }
}

/** Root mean square of a vector: how big its elements are, whatever its length. */
function rms(v: Float32Array): string {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s / v.length).toFixed(4);
}

async function traceForward(dir: string): Promise<void> {
  using checkpoint = loadCheckpoint(dir);
  const c = checkpoint.config;
  const { dim, nHeads, nKvHeads, headDim, kvDim, hiddenDim, normEps, nLayers } = c;
  const f = (name: string) => tensorFloats(checkpoint, name);
  const embedding = f("tok_embeddings.weight");
  const output = checkpoint.tiedEmbeddings ? embedding : f("output.weight");
  const table = ropeTable(headDim, c.ropeTheta, c.ropeScaling, TOKENS.length);
  const keyCache = Array.from({ length: nLayers }, () => new Float32Array(TOKENS.length * kvDim));
  const valueCache = Array.from({ length: nLayers }, () => new Float32Array(TOKENS.length * kvDim));
  const mv = (out: Float32Array, w: Float32Array, x: Float32Array, rows: number, cols: number) =>
    matVecF32(out, 0, w, x, 0, cols, 0, rows);
  const log = (show: boolean, text: string) => show && console.log(text);
  /** One line of the trace: the step, the shape it produced, and the rms of a vector. */
  const step = (show: boolean, what: string, shape: string, value?: Float32Array) =>
    log(
      show,
      `  ${what.padEnd(36)} ${shape.padEnd(22)} ${value ? `rms ${rms(value)}` : ""}`.trimEnd(),
    );
  let logits = new Float32Array(c.vocabSize);

  for (let position = 0; position < TOKENS.length; position++) {
    const show = position === TOKENS.length - 1; // trace the last token only
    const token = TOKENS[position];
    log(show, `token ${token} at position ${position} (dim ${dim}, ${nLayers} layers)`);
    const x = embedding.slice(token * dim, (token + 1) * dim);
    step(show, `embedding row ${token}`, `x (${dim})`, x);
    const xb = new Float32Array(dim), xb2 = new Float32Array(dim);
    const q = new Float32Array(dim), k = new Float32Array(kvDim), v = new Float32Array(kvDim);
    const hb = new Float32Array(hiddenDim), hb2 = new Float32Array(hiddenDim);
    for (let layer = 0; layer < nLayers; layer++) {
      const p = `layers.${layer}.`;
      log(show, ` layer ${layer}`);
      rmsNorm(xb, 0, x, 0, f(`${p}attention_norm.weight`), dim, normEps);
      step(show, "rmsnorm(x)", `xb (${dim})`, xb);
      mv(q, f(`${p}attention.wq.weight`), xb, dim, dim);
      mv(k, f(`${p}attention.wk.weight`), xb, kvDim, dim);
      mv(v, f(`${p}attention.wv.weight`), xb, kvDim, dim);
      step(show, "xb·wq, xb·wk, xb·wv", `q ${nHeads}×${headDim}, k, v ${nKvHeads}×${headDim}`);
      rope(q, 0, nHeads, table, position);
      rope(k, 0, nKvHeads, table, position);
      keyCache[layer].set(k, position * kvDim);
      valueCache[layer].set(v, position * kvDim);
      step(show, `rope(q, k) at ${position}; k, v -> cache`, `cache ${position + 1}×${kvDim}`);
      const group = nHeads / nKvHeads;
      for (let h = 0; h < nHeads; h++) {
        const kv = Math.floor(h / group) * headDim; // grouped-query attention
        attendHead(
          xb,
          h * headDim,
          q,
          h * headDim,
          keyCache[layer],
          valueCache[layer],
          kv,
          kvDim,
          headDim,
          position + 1,
          new Float64Array(position + 1),
          new Float64Array(headDim),
        );
      }
      step(show, `attention over ${position + 1} positions`, `xb ${nHeads}×${headDim} = ${dim}`);
      mv(xb2, f(`${p}attention.wo.weight`), xb, dim, dim);
      for (let i = 0; i < dim; i++) x[i] += xb2[i];
      step(show, "x += xb·wo", `x (${dim})`, x);
      rmsNorm(xb, 0, x, 0, f(`${p}ffn_norm.weight`), dim, normEps);
      mv(hb, f(`${p}feed_forward.w1.weight`), xb, hiddenDim, dim);
      mv(hb2, f(`${p}feed_forward.w3.weight`), xb, hiddenDim, dim);
      swiGlu(hb, hb2, 0, hiddenDim);
      step(show, "silu(rmsnorm(x)·w1) ⊙ (…·w3)", `hb (${hiddenDim})`, hb);
      mv(xb2, f(`${p}feed_forward.w2.weight`), hb, dim, hiddenDim);
      for (let i = 0; i < dim; i++) x[i] += xb2[i];
      step(show, "x += hb·w2", `x (${dim})`, x);
    }
    rmsNorm(xb, 0, x, 0, f("norm.weight"), dim, normEps);
    logits = new Float32Array(c.vocabSize);
    mv(logits, output, xb, c.vocabSize, dim);
    const classifier = checkpoint.tiedEmbeddings ? "output (tied: embedding)" : "output";
    log(show, " after the last layer");
    step(show, `rmsnorm(x)·${classifier}`, `logits (${c.vocabSize})`);
  }

  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  using model = await Transformer.create(checkpoint, { contextLength: 16, threads: 1 });
  const engine = await model.forward(TOKENS, 0);
  let maxDiff = 0;
  for (let i = 0; i < logits.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(logits[i] - engine[i]));
  }
  console.log(`most likely next token: ${best} (logit ${logits[best].toFixed(4)})`);
  console.log(
    `Transformer.forward on the same tokens (${model.kernels} kernels): most likely ` +
      `${engine.indexOf(Math.max(...engine))}, largest difference ${maxDiff.toExponential(2)}`,
  );
}

function printShapes(c: ModelConfig): void {
  const { dim, nHeads, nKvHeads, headDim, kvDim, hiddenDim, vocabSize, nLayers } = c;
  const rows: [string, string, number][] = [ // step, output shape, weights read (elements)
    ["embedding row", `x (${dim})`, dim],
    ["rmsnorm (attention_norm)", `xb (${dim})`, dim],
    ["xb · wq", `q (${nHeads} × ${headDim})`, dim * dim],
    ["xb · wk", `k (${nKvHeads} × ${headDim})`, kvDim * dim],
    ["xb · wv", `v (${nKvHeads} × ${headDim})`, kvDim * dim],
    ["rope(q), rope(k); k, v -> cache", `cache (p+1) × ${kvDim}`, 0],
    ["attention (GQA 4:1)", `xb (${nHeads} × ${headDim})`, 0],
    ["xb · wo, x += ", `x (${dim})`, dim * dim],
    ["rmsnorm (ffn_norm)", `xb (${dim})`, dim],
    ["xb · w1, xb · w3", `hb, hb2 (${hiddenDim})`, 2 * hiddenDim * dim],
    ["silu(hb) ⊙ hb2", `hb (${hiddenDim})`, 0],
    ["hb · w2, x += ", `x (${dim})`, dim * hiddenDim],
  ];
  let perLayer = 0;
  console.log("step                               output                 weights read (bf16)");
  for (const [i, [step, shape, n]] of rows.entries()) {
    if (i === 1) console.log(`-- each of the ${nLayers} layers --`);
    if (i > 0) perLayer += n;
    console.log(`${step.padEnd(34)} ${shape.padEnd(22)} ${mb(n)}`);
  }
  console.log(`-- per layer ${mb(perLayer)}, all layers ${mb(perLayer * nLayers)} --`);
  console.log(`${"rmsnorm (norm)".padEnd(34)} ${`xb (${dim})`.padEnd(22)} ${mb(dim)}`);
  console.log(
    `${"xb · output".padEnd(34)} ${`logits (${vocabSize})`.padEnd(22)} ${mb(vocabSize * dim)}`,
  );
  console.log(`total per token: ${mb(dim + perLayer * nLayers + dim + vocabSize * dim)}`);
}

function mb(elements: number): string {
  const bytes = 2 * elements;
  return bytes === 0
    ? "-"
    : bytes < 1e6
    ? `${(bytes / 1e3).toFixed(1)} kB`
    : `${(bytes / 1e6).toFixed(1)} MB`;
}
