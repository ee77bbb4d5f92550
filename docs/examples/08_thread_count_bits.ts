/**
 * Chapter 8's worked example: runs the same prompt through the demo model with 1, 2 and 3
 * threads and both backends, and compares the logits bit for bit; then feeds the prompt token by
 * token and compares again; then times an empty job through the pool (the cost of waking the
 * workers and waiting for them).
 *
 * ```sh
 * LLAMA_MODEL=~/.cache/llama-bolts/demo-tiny \
 *   deno run --allow-read --allow-env --allow-ffi docs/examples/08_thread_count_bits.ts
 * ```
 *
 * @module
 */

import { join } from "node:path";
import type { BackendName } from "../../lib/kernels/backend.ts";
import { encodeSteps, STEP_WORKER_URL, stepRunner } from "../../lib/kernels/steps.ts";
import { compileKernels } from "../../lib/kernels/wasm/kernels.ts";
import { loadCheckpoint } from "../../lib/model/checkpoint.ts";
import { RunState } from "../../lib/model/run_state.ts";
import { Transformer } from "../../lib/model/transformer.ts";
import { Pool } from "../../lib/parallel/pool.ts";
import { Tokenizer } from "../../lib/tokenizer/tokenizer.ts";

const dir = Deno.env.get("LLAMA_MODEL");
if (!dir) {
  console.error("set LLAMA_MODEL to a model folder, e.g. ~/.cache/llama-bolts/demo-tiny");
  Deno.exit(2);
}
const tokenizer = Tokenizer.load(join(dir, "tokenizer.model"));
const prompt = tokenizer.encode("The quick brown fox jumps over the lazy dog.", { bos: true });
using checkpoint = loadCheckpoint(dir);

/** The logits after the whole prompt, as raw bits, fed at once or one token at a time. */
async function logitBits(kernels: BackendName, threads: number, oneByOne = false) {
  using model = await Transformer.create(checkpoint, { kernels, threads, contextLength: 64 });
  let logits: Float32Array = new Float32Array();
  if (oneByOne) {
    for (let i = 0; i < prompt.length; i++) logits = await model.forward([prompt[i]], i);
  } else {
    logits = await model.forward(prompt, 0);
  }
  return new Uint32Array(logits.slice().buffer);
}

function compare(a: Uint32Array, b: Uint32Array): string {
  let differing = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
  return differing === 0 ? "identical bits" : `${differing} of ${a.length} logits differ`;
}

console.log(`prompt: ${prompt.length} tokens; ${checkpoint.config.vocabSize} logits compared`);
const oneThread = new Map<BackendName, Uint32Array>();
for (const kernels of ["wasm", "ts"] as BackendName[]) {
  const one = await logitBits(kernels, 1);
  oneThread.set(kernels, one);
  for (const threads of [2, 3]) {
    const label = `[${kernels}] ${threads} threads against 1 thread:`;
    console.log(`  ${label.padEnd(54)}${compare(one, await logitBits(kernels, threads))}`);
  }
  const label = `[${kernels}] token by token against the whole prompt:`;
  console.log(`  ${label.padEnd(54)}${compare(one, await logitBits(kernels, 2, true))}`);
}
const wasm = oneThread.get("wasm")!, ts = oneThread.get("ts")!;
let maxDiff = 0;
const wf = new Float32Array(wasm.buffer), tf = new Float32Array(ts.buffer);
for (let i = 0; i < wf.length; i++) maxDiff = Math.max(maxDiff, Math.abs(wf[i] - tf[i]));
console.log(
  `  wasm against ts (different summation order): ${compare(wasm, ts)}, ` +
    `largest difference ${maxDiff.toExponential(2)}`,
);

// An empty job: what it costs to wake the workers and wait for them.
const state = RunState.allocate({
  dim: 64,
  kvDim: 32,
  hiddenDim: 256,
  nLayers: 1,
  nHeads: 4,
  vocabSize: 256,
  contextLength: 16,
  maxBatch: 1,
  threads: 2,
});
const weights = new WebAssembly.Memory(
  {
    initial: 1n,
    maximum: 1n,
    shared: true,
    address: "i64",
  } as unknown as WebAssembly.MemoryDescriptor,
);
const init = {
  backend: "wasm" as const,
  weights,
  state: state.memory,
  module: compileKernels(),
  scratch: state.scratch,
  maxScores: 64,
  maxCols: 256,
};
using pool = await Pool.start({
  threads: 2,
  runner: stepRunner(init, 0),
  workerUrl: STEP_WORKER_URL,
  init,
});
const empty = encodeSteps([]);
for (let i = 0; i < 200; i++) await pool.run(empty);
const jobs = 2000, started = performance.now();
for (let i = 0; i < jobs; i++) await pool.run(empty);
console.log(
  `\nan empty job through a pool of 2 threads: ${
    ((performance.now() - started) / jobs * 1000).toFixed(1)
  } µs (mean of ${jobs})`,
);
