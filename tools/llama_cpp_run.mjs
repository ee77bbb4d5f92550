// Runs llama.cpp (node-llama-cpp, a dev tool: see DEVELOPERS.md) on a GGUF file with given prompt
// ids and prints what it predicts, as one JSON line on stdout:
//
//   node tools/llama_cpp_run.mjs MODEL.gguf '{"promptIds": [1, 2, 3], "steps": 16, "top": 5}'
//
// Output: {"greedyIds": [...], "top": [[[id, logprob], ...] per step], "logprobs": [[...] per
// step] (only with "full": true)}. Step 0 is the prediction after the prompt; each later step
// feeds the previous greedy id. It uses a float32 KV cache and no flash attention, so that
// llama.cpp's own rounding stays small, and one thread-count-independent batch per step.
// The package is looked up in $NODE_LLAMA_CPP_DIR, else ~/peers.
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modelPath, requestJson] = process.argv.slice(2);
if (modelPath === undefined || requestJson === undefined) {
  console.error("usage: node tools/llama_cpp_run.mjs MODEL.gguf REQUEST_JSON");
  process.exit(2);
}
const request = JSON.parse(requestJson);
const { promptIds, steps = 16, top = 5, full = false, threads = 2 } = request;
const root = process.env.NODE_LLAMA_CPP_DIR ?? join(homedir(), "peers");
const require = createRequire(join(root, "package.json"));
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(require.resolve("node-llama-cpp")).href
);

const llama = await getLlama({ build: "never", gpu: false, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, useMmap: true });
const context = await model.createContext({
  contextSize: promptIds.length + steps + 16,
  batchSize: Math.max(512, promptIds.length),
  threads: { ideal: threads, min: threads },
  flashAttention: false,
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
});
const sequence = context.getSequence();
// Probabilities of the whole vocabulary: no top-k/top-p/min-p cut, temperature 1.
const generateNext = {
  probabilities: true,
  options: { temperature: 1, topK: 0, topP: 1, minP: 0 },
};

const greedyIds = [], topLists = [], logprobs = [];
let input = [...promptIds.slice(0, -1), [promptIds[promptIds.length - 1], { generateNext }]];
for (let step = 0; step < steps; step++) {
  const results = await sequence.controlledEvaluate(input);
  const probabilities = results[results.length - 1].next.probabilities;
  const ranked = [...probabilities.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  greedyIds.push(ranked[0][0]);
  topLists.push(ranked.slice(0, top).map(([id, p]) => [id, Math.log(p)]));
  if (full) {
    const row = new Array(probabilities.size);
    for (const [id, p] of probabilities) row[id] = Math.log(p);
    logprobs.push(row);
  }
  input = [[ranked[0][0], { generateNext }]];
}
console.log(
  JSON.stringify(full ? { greedyIds, top: topLists, logprobs } : { greedyIds, top: topLists }),
);
await context.dispose();
await model.dispose();
await llama.dispose();
