/**
 * First-token time of `llama serve` on a first and a second chat turn: what the prompt cache
 * buys a chat client that resends its whole history every turn.
 *
 * The server runs in this process on a free loopback port with one kept session
 * (`--parallel 1`), and is asked over HTTP with `stream: true`, as a chat front end would.
 * Each round:
 * 0. an unrelated one-token completion takes the one session, so nothing is cached;
 * 1. turn 1: a system prompt and a question (a cold prompt);
 * 2. turn 2: the same dialog plus the answer and a follow-up (the first turn is cached);
 * 3. an unrelated completion, which takes the one session;
 * 4. turn 2 again, now cold: the same prompt prefilled from scratch, for comparison.
 *
 * First-token time is from sending the request to the first piece of answer text. Prints a
 * table of medians (or one JSON object with `--json`); progress goes to stderr.
 *
 *     flock /tmp/llama-bolts-heavy.lock deno task bench:serve --model /work/models/1b --threads 2
 *
 * @module
 */

import { basename } from "node:path";
import { LoadedModel } from "../lib/cli/loaded_model.ts";
import { numberFlag, parseCommandArgs } from "../lib/cli/options.ts";
import { LlamaError } from "../lib/errors.ts";
import { Engine } from "../lib/server/engine.ts";
import { LlamaServer } from "../lib/server/server.ts";

/** One timed request. */
interface Timed {
  /** Milliseconds to the first piece of text. */
  firstTokenMs: number;
  text: string;
  promptTokens: number;
  cachedTokens: number;
}

/** The `--json` output. */
export interface ServeBenchResult {
  model: string;
  threads: number;
  rounds: number;
  /** Medians in milliseconds. */
  firstTurnMs: number;
  secondTurnCachedMs: number;
  secondTurnColdMs: number;
  /** Of the last round. */
  firstTurnPromptTokens: number;
  secondTurnPromptTokens: number;
  secondTurnCachedTokens: number;
}

/** A system prompt of the usual length for a chat front end (about 80 tokens). */
const SYSTEM = "You are a helpful, friendly assistant running on the user's own computer. " +
  "Answer in plain language and keep answers short unless the user asks for detail. If you are " +
  "not sure of a fact, say so instead of guessing. When the user asks for code, give a short " +
  "example and explain what it does in one or two sentences. Never invent links or references, " +
  "and ask a question back when the request is unclear.";
const QUESTIONS = [
  "Why does the lighthouse keeper still light the lamp every night?",
  "What should I pack for a week of hiking in the mountains in autumn?",
  "How do bees find their way back to the hive after a long flight?",
];
const FOLLOW_UP = "Thanks! Can you say a little more?";

async function timedChat(
  baseUrl: string,
  messages: { role: string; content: string }[],
  maxTokens: number,
): Promise<Timed> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      messages,
      max_tokens: maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  let firstTokenMs = 0, text = "", promptTokens = 0, cachedTokens = 0, buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of response.body!) {
    buffer += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const data = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      const piece = chunk.choices?.[0]?.delta?.content;
      if (piece) {
        if (text === "") firstTokenMs = performance.now() - started;
        text += piece;
      }
      if (chunk.usage) {
        promptTokens = chunk.usage.prompt_tokens;
        cachedTokens = chunk.usage.prompt_tokens_details.cached_tokens;
      }
    }
  }
  return { firstTokenMs, text, promptTokens, cachedTokens };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("bench:serve", args, {
    model: { type: "string" },
    threads: { type: "string" },
    rounds: { type: "string" },
    "max-tokens": { type: "string" },
    json: { type: "boolean" },
  }, "bench/serve.ts (see its module comment)");
  const threads = numberFlag("threads", values.threads, { min: 1, integer: true });
  const rounds =
    numberFlag("rounds", values.rounds, { min: 1, max: QUESTIONS.length, integer: true }) ??
      QUESTIONS.length;
  const maxTokens = numberFlag("max-tokens", values["max-tokens"], { min: 1, integer: true }) ?? 8;
  using model = await LoadedModel.load(
    typeof values.model === "string" ? values.model : undefined,
    { threads, context: 2048, kvCaches: 1 },
  );
  const server = await LlamaServer.start({ hostname: "127.0.0.1", port: 0, log: () => {} });
  server.ready(
    new Engine({
      name: basename(model.dir),
      tokenizer: model.tokenizer,
      transformer: model.transformer,
      stopTokens: model.stopTokens,
    }, { maxWaiting: 0 }),
  );
  const first: Timed[] = [], cached: Timed[] = [], cold: Timed[] = [];
  try {
    const evict = () => timedChat(server.baseUrl, [{ role: "user", content: "x" }], 1);
    for (let round = 0; round < rounds; round++) {
      await evict();
      const turn1 = [{ role: "system", content: SYSTEM }, {
        role: "user",
        content: QUESTIONS[round],
      }];
      first.push(await timedChat(server.baseUrl, turn1, maxTokens));
      const turn2 = [
        ...turn1,
        { role: "assistant", content: first.at(-1)!.text },
        { role: "user", content: FOLLOW_UP },
      ];
      cached.push(await timedChat(server.baseUrl, turn2, maxTokens));
      await evict(); // another conversation takes the one kept session

      cold.push(await timedChat(server.baseUrl, turn2, maxTokens));
      const f = first.at(-1)!, c = cached.at(-1)!, k = cold.at(-1)!;
      console.error(
        `round ${round + 1}: first turn ${f.firstTokenMs.toFixed(0)} ms (${f.promptTokens} ` +
          `tokens, ${f.cachedTokens} cached); second turn ${
            c.firstTokenMs.toFixed(0)
          } ms (${c.promptTokens} tokens, ` +
          `${c.cachedTokens} cached), cold ${k.firstTokenMs.toFixed(0)} ms ` +
          `(${k.cachedTokens} cached)`,
      );
    }
  } finally {
    await server.stop("abort");
  }
  const result: ServeBenchResult = {
    model: model.dir,
    threads: model.transformer.threads,
    rounds,
    firstTurnMs: median(first.map((t) => t.firstTokenMs)),
    secondTurnCachedMs: median(cached.map((t) => t.firstTokenMs)),
    secondTurnColdMs: median(cold.map((t) => t.firstTokenMs)),
    firstTurnPromptTokens: first.at(-1)!.promptTokens,
    secondTurnPromptTokens: cached.at(-1)!.promptTokens,
    secondTurnCachedTokens: cached.at(-1)!.cachedTokens,
  };
  if (values.json) {
    console.log(JSON.stringify(result));
  } else {
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(`| turn | prompt tokens | cached | first token (median of ${rounds}) |`);
    console.log("| --- | ---: | ---: | ---: |");
    console.log(`| first | ${result.firstTurnPromptTokens} | 0 | ${s(result.firstTurnMs)} |`);
    console.log(
      `| second | ${result.secondTurnPromptTokens} | ${result.secondTurnCachedTokens} | ` +
        `${s(result.secondTurnCachedMs)} |`,
    );
    console.log(
      `| second, cold | ${result.secondTurnPromptTokens} | 0 | ${s(result.secondTurnColdMs)} |`,
    );
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (error) {
    if (!(error instanceof LlamaError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exitCode = error.exitCode;
  }
}
