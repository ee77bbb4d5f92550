/**
 * End-to-end speed of a model folder: load, prefill a prompt of random token ids, decode
 * greedily, print the generation statistics and the weight bandwidth a decode step reached.
 *
 * Not a `Deno.bench` file (one long measurement, not many short ones). Make a model with the
 * real shape first, e.g. `deno run -A lib/cli/make_model.ts --preset 1b --out /tmp/model-1b`:
 *
 *     deno run -A bench/decode_speed.ts /tmp/model-1b --threads 2 --prompt 64 --tokens 16
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";
import { Transformer } from "../lib/model/transformer.ts";
import { generate } from "../lib/generate/generate.ts";
import { Session } from "../lib/generate/session.ts";
import { DTYPE_BYTES } from "../lib/tensor/dtype.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    threads: { type: "string" },
    prompt: { type: "string", default: "64" },
    tokens: { type: "string", default: "16" },
    context: { type: "string", default: "2048" },
  },
});
const dir = positionals[0];
if (dir === undefined) {
  console.error(
    "usage: deno run -A bench/decode_speed.ts MODEL_DIR [--threads N] " +
      "[--prompt N] [--tokens N] [--context N]",
  );
  Deno.exit(2);
}

const started = performance.now();
using checkpoint = loadCheckpoint(dir);
const checkpointMs = performance.now() - started;
using model = await Transformer.create(checkpoint, {
  threads: values.threads === undefined ? undefined : Number(values.threads),
  contextLength: Number(values.context),
});
const config = checkpoint.config;

// Bytes of weights one decode step reads: every matrix of every layer plus the classifier.
let bytesPerToken = 0;
for (const [name, tensor] of checkpoint.tensors) {
  if (name === "tok_embeddings.weight" && !checkpoint.tiedEmbeddings) continue;
  bytesPerToken += tensor.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[tensor.dtype];
}

let seed = 7;
const prompt = Array.from({ length: Number(values.prompt) }, () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed % 128000;
});
const session = new Session(model);
const generation = generate(session, prompt, {
  maxNewTokens: Number(values.tokens),
  stopTokens: [],
});
for await (const _ of generation) Deno.stdout.writeSync(new TextEncoder().encode("."));
console.log();

const s = generation.stats;
const rss = Deno.memoryUsage().rss;
console.log(
  `${dir}: dim ${config.dim}, ${config.nLayers} layers, ${model.threads} worker(s), ` +
    `mapped=${checkpoint.file.mapped}`,
);
console.log(
  `load: checkpoint ${checkpointMs.toFixed(0)} ms, transformer ${s.loadMs.toFixed(0)} ms`,
);
console.log(
  `prefill: ${s.promptTokens} tokens in ${s.prefillMs.toFixed(0)} ms = ` +
    `${s.prefillTokensPerSecond.toFixed(2)} tokens/s (first token after ` +
    `${s.timeToFirstTokenMs.toFixed(0)} ms)`,
);
console.log(
  `decode: ${s.generatedTokens} tokens, ${s.decodeTokensPerSecond.toFixed(2)} tokens/s = ` +
    `${(bytesPerToken * s.decodeTokensPerSecond / 1e9).toFixed(2)} GB/s of weights ` +
    `(${(bytesPerToken / 1e9).toFixed(2)} GB per token)`,
);
console.log(`resident memory: ${(rss / 1e9).toFixed(2)} GB`);
