/**
 * `deno task bench:compare`: llama-bolts beside llama.cpp on the same weights, in one run.
 *
 * Each round runs, one after another in fresh processes, llama-bolts on the checkpoint folder
 * (`bench/generate.ts --json`, once per `--kernels` backend) and llama.cpp on a GGUF file of the
 * same weights (`bench/llama_cpp_peer.mjs` through Node and node-llama-cpp, see
 * DEVELOPERS.md), with the same prompt ids, the same number of greedy tokens and threads.
 * Rounds alternate the engines so that a slow moment of a noisy machine hits all of them;
 * the table shows medians over the rounds and each engine's ratio to llama.cpp.
 *
 *     deno task bench:compare --model /work/models/1b --gguf /work/models/1b-f16.gguf
 *
 * `--model` and `--gguf` may be repeated, in pairs: every round then runs every pair, so that
 * ratios between files (Q8_0 against bf16, say) come from the same minutes too. With a GGUF
 * file as `--model`, both engines read the same bytes.
 *
 * The GGUF comes from `deno task llama convert --model DIR --out FILE --type f16`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { type GenerateBenchResult, promptIds } from "./generate.ts";

/** One engine's measurement of one round. */
interface EngineRun {
  engine: string;
  timeToFirstTokenMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

const HELP = `Usage: deno task bench:compare --model DIR --gguf FILE [--model … --gguf …]
                            [--threads N] [--runs N] [--prompt-tokens N] [--tokens N]
                            [--kernels wasm,ts] [--json]

Runs llama-bolts on DIR and llama.cpp (node-llama-cpp, see DEVELOPERS.md) on FILE, the same
weights as GGUF, with the same prompt and greedy tokens; prints medians over --runs rounds.
Several --model/--gguf pairs run in turn within every round.
`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", multiple: true },
    gguf: { type: "string", multiple: true },
    threads: { type: "string", default: String(navigator.hardwareConcurrency) },
    runs: { type: "string", default: "3" },
    "prompt-tokens": { type: "string", default: "128" },
    tokens: { type: "string", default: "32" },
    kernels: { type: "string", default: "wasm" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help || values.model === undefined || values.gguf === undefined) {
  console.log(HELP);
  Deno.exit(values.help ? 0 : 2);
}
if (values.model.length !== values.gguf.length) {
  console.error(
    `bench:compare: ${values.model.length} --model but ${values.gguf.length} --gguf; give them in pairs`,
  );
  Deno.exit(2);
}
const pairs = values.model.map((model, i) => ({ model, gguf: values.gguf![i] }));
const threads = Number(values.threads), runs = Number(values.runs);
const promptTokens = Number(values["prompt-tokens"]), tokens = Number(values.tokens);
const backends = values.kernels.split(",");

const generateScript = fileURLToPath(new URL("./generate.ts", import.meta.url));
const peerScript = fileURLToPath(new URL("./llama_cpp_peer.mjs", import.meta.url));

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed:\n${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return stdout.trim().split("\n").at(-1)!;
}

async function ours(model: string, kernels: string): Promise<EngineRun> {
  const line = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-ffi",
    "--allow-env",
    "--allow-run=cat",
    generateScript,
    "--model",
    model,
    "--threads",
    String(threads),
    "--kernels",
    kernels,
    "--prompt-tokens",
    String(promptTokens),
    "--tokens",
    String(tokens),
    "--json",
  ]);
  const r = JSON.parse(line) as GenerateBenchResult;
  return { engine: `llama-bolts ${kernels}`, ...r };
}

async function peer(model: string, gguf: string): Promise<EngineRun> {
  const { ids } = promptIds(model, promptTokens, 128256);
  return JSON.parse(
    await run("node", [
      peerScript,
      gguf,
      JSON.stringify(ids),
      String(tokens),
      String(threads),
    ]),
  );
}

/** Measurements by pair, then by engine. */
const results = pairs.map(() => new Map<string, EngineRun[]>());
for (let round = 0; round < runs; round++) {
  const order = round % 2 === 0 ? [...backends, "llama.cpp"] : ["llama.cpp", ...backends];
  for (const [p, { model, gguf }] of pairs.entries()) {
    for (const engine of order) {
      const what = pairs.length > 1 ? ` on ${model}` : "";
      console.error(`round ${round + 1}/${runs}: ${engine}${what} …`);
      const r = engine === "llama.cpp" ? await peer(model, gguf) : await ours(model, engine);
      const key = engine === "llama.cpp" ? "llama.cpp" : r.engine;
      results[p].set(key, [...(results[p].get(key) ?? []), r]);
    }
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summaries = results.map((byEngine) =>
  [...byEngine].map(([engine, rs]) => ({
    engine,
    name: rs[0].engine,
    prefill: median(rs.map((r) => r.prefillTokensPerSecond)),
    decode: median(rs.map((r) => r.decodeTokensPerSecond)),
    ttft: median(rs.map((r) => r.timeToFirstTokenMs)),
    runs: rs.map((r) => ({ prefill: r.prefillTokensPerSecond, decode: r.decodeTokensPerSecond })),
  }))
);
if (values.json) {
  for (const [p, { model, gguf }] of pairs.entries()) {
    console.log(
      JSON.stringify({ model, gguf, threads, promptTokens, tokens, summary: summaries[p] }),
    );
  }
} else {
  console.log(
    `${promptTokens}-token prompt, ${tokens} greedy tokens, ${threads} threads, medians of ${runs}`,
  );
  for (const [p, { model, gguf }] of pairs.entries()) {
    const summary = summaries[p];
    const peerRow = summary.find((s) => s.engine === "llama.cpp")!;
    if (pairs.length > 1) console.log(`\n${model} (llama.cpp: ${gguf})`);
    console.log(
      "| engine | prefill tok/s | decode tok/s | first token | prefill ÷ llama.cpp | decode ÷ llama.cpp |",
    );
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const s of summary) {
      console.log(
        `| ${s.name} | ${s.prefill.toFixed(2)} | ${s.decode.toFixed(2)} | ${
          (s.ttft / 1000).toFixed(2)
        } s | ` +
          `${(s.prefill / peerRow.prefill).toFixed(2)} | ${
            (s.decode / peerRow.decode).toFixed(2)
          } |`,
      );
    }
  }
}
