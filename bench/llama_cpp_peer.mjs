// llama.cpp, the peer llama-bolts is measured against, through node-llama-cpp (a dev tool, never
// a runtime dependency: see DEVELOPERS.md). Run by `bench/compare.ts` with Node:
//
//   node bench/llama_cpp_peer.mjs MODEL.gguf PROMPT_IDS_JSON TOKENS THREADS
//
// It evaluates the given prompt ids (the same ids llama-bolts runs), then decodes TOKENS tokens
// greedily, and prints one JSON line: load, prefill and decode times and tokens/s. The package
// is looked up in $NODE_LLAMA_CPP_DIR, else ~/peers (where DEVELOPERS.md installs it).
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modelPath, promptJson, tokensText, threadsText] = process.argv.slice(2);
if (modelPath === undefined || promptJson === undefined) {
  console.error("usage: node bench/llama_cpp_peer.mjs MODEL.gguf PROMPT_IDS_JSON TOKENS THREADS");
  process.exit(2);
}
const root = process.env.NODE_LLAMA_CPP_DIR ?? join(homedir(), "peers");
const require = createRequire(join(root, "package.json"));
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(require.resolve("node-llama-cpp")).href
);

const prompt = JSON.parse(promptJson);
const tokens = Number(tokensText ?? 32), threads = Number(threadsText ?? 2);
const started = performance.now();
const llama = await getLlama({ build: "never", gpu: false, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, useMmap: true });
const context = await model.createContext({
  contextSize: prompt.length + tokens + 16,
  batchSize: 512,
  threads: { ideal: threads, min: threads },
  flashAttention: false,
  // A float32 KV cache, like llama-bolts' (llama.cpp's default is f16).
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
});
const sequence = context.getSequence();
const loadMs = performance.now() - started;

const t0 = performance.now();
let first = 0, count = 0;
for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) {
  count++;
  if (count === 1) first = performance.now();
  if (count === tokens) break;
}
const end = performance.now();
console.log(JSON.stringify({
  engine: `llama.cpp (node-llama-cpp ${require("node-llama-cpp/package.json").version})`,
  loadMs,
  promptTokens: prompt.length,
  generatedTokens: count,
  timeToFirstTokenMs: first - t0,
  prefillTokensPerSecond: prompt.length / ((first - t0) / 1000),
  decodeTokensPerSecond: (count - 1) / ((end - first) / 1000),
}));
await context.dispose();
await model.dispose();
await llama.dispose();
