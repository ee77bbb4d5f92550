/**
 * The generation API: stop tokens, limits, context checks before any work, cancellation, text
 * streamed at whole characters, statistics, and sessions that continue a conversation without
 * re-processing it. Greedy ids come from the PyTorch golden case "tied".
 *
 * @module
 */

import assert from "node:assert/strict";
import { ContextError, UsageError } from "../lib/errors.ts";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";
import { Transformer } from "../lib/model/transformer.ts";
import {
  DEFAULT_STOP_TOKENS,
  generate,
  type GeneratedToken,
  type TextCodec,
} from "../lib/generate/generate.ts";
import { Session } from "../lib/generate/session.ts";
import { loadGoldenCase } from "./helpers/golden.ts";

const golden = loadGoldenCase("tied");

async function withModel(
  contextLength: number,
  body: (model: Transformer) => Promise<void>,
): Promise<void> {
  using checkpoint = loadCheckpoint(golden.dir);
  using model = await Transformer.create(checkpoint, { threads: 1, contextLength });
  await body(model);
}

async function collect(iterable: AsyncIterable<GeneratedToken>): Promise<GeneratedToken[]> {
  const out: GeneratedToken[] = [];
  for await (const token of iterable) out.push(token);
  return out;
}

Deno.test("default stop tokens are <|end_of_text|>, <|eom_id|>, <|eot_id|>", () => {
  assert.deepEqual([...DEFAULT_STOP_TOKENS].sort(), [128001, 128008, 128009]);
});

Deno.test("generate: greedy ids, stop token ends it unyielded and stays pending", async () => {
  await withModel(512, async (model) => {
    const session = new Session(model);
    const stop = golden.greedyIds[3];
    assert.ok(!golden.greedyIds.slice(0, 3).includes(stop));
    const generation = generate(session, golden.promptIds, { stopTokens: [stop] });
    const tokens = await collect(generation);
    assert.deepEqual(tokens.map((t) => t.id), golden.greedyIds.slice(0, 3));
    assert.deepEqual(tokens.map((t) => t.index), [0, 1, 2]);
    assert.equal(generation.stopReason, "stop-token");
    assert.equal(generation.stopToken, stop);
    assert.deepEqual(generation.ids, golden.greedyIds.slice(0, 3));
    const n = golden.promptIds.length;
    assert.equal(session.position, n + 3);
    assert.deepEqual(session.tokens.slice(n), golden.greedyIds.slice(0, 4));

    const stats = generation.stats;
    assert.equal(stats.promptTokens, n);
    assert.equal(stats.generatedTokens, 3);
    assert.ok(stats.prefillMs > 0 && stats.prefillTokensPerSecond > 0);
    assert.ok(stats.decodeMs > 0 && stats.decodeTokensPerSecond > 0);
    assert.ok(stats.timeToFirstTokenMs >= stats.prefillMs);
    assert.equal(stats.loadMs, model.loadMs);
  });
});

Deno.test("generate: maxNewTokens, then the conversation continues where it stopped", async () => {
  await withModel(512, async (model) => {
    const session = new Session(model);
    const first = golden.promptIds.slice(0, 100), second = golden.promptIds.slice(100, 130);
    const a = generate(session, first, { maxNewTokens: 5, stopTokens: [] });
    assert.equal((await collect(a)).length, 5);
    assert.equal(a.stopReason, "max-tokens");
    assert.equal(session.tokens.length, 105);
    assert.equal(session.position, 104); // the last sampled token is pending

    const continued: Float32Array[] = [];
    const b = generate(session, second, {
      maxNewTokens: 2,
      stopTokens: [],
      onLogits: (logits) => continued.push(logits.slice()),
    });
    await collect(b);
    assert.equal(b.stats.promptTokens, 31); // the pending token and the new turn, nothing else

    // The same conversation processed from scratch in one pass gives the same logits.
    const everything = [...first, ...a.ids, ...second];
    const fresh = new Session(model);
    const logits = await fresh.feed(everything);
    assert.deepEqual(Array.from(logits), Array.from(continued[0]));
    assert.throws(() => session.reset(), UsageError); // replaced by the fresh session
  });
});

Deno.test("generate: reset() starts over at position 0", async () => {
  await withModel(512, async (model) => {
    const session = new Session(model);
    const prompt = golden.promptIds;
    const a = await collect(generate(session, prompt, { maxNewTokens: 3, stopTokens: [] }));
    session.reset();
    assert.equal(session.position, 0);
    assert.equal(session.tokens.length, 0);
    const b = await collect(generate(session, prompt, { maxNewTokens: 3, stopTokens: [] }));
    assert.deepEqual(b.map((t) => t.id), a.map((t) => t.id));
    assert.deepEqual(a.map((t) => t.id), golden.greedyIds.slice(0, 3));
  });
});

Deno.test("generate: context errors are raised before any work", async () => {
  await withModel(64, async (model) => {
    const session = new Session(model);
    const prompt = golden.promptIds.slice(0, 60);
    assert.throws(
      () => generate(session, prompt, { maxNewTokens: 5 }),
      (error: Error) => error instanceof ContextError && /60 \+ 5 = 65/.test(error.message),
    );
    assert.throws(() => generate(session, golden.promptIds.slice(0, 64)), ContextError);
    assert.throws(() => generate(session, []), UsageError);
    assert.throws(() => generate(session, "text"), UsageError); // no tokenizer
    assert.throws(() => generate(session, prompt, { maxNewTokens: 0 }), UsageError);
    assert.equal(session.position, 0);
    // Without maxNewTokens the generation may fill the context.
    const all = await collect(generate(session, prompt, { stopTokens: [] }));
    assert.equal(all.length, 4);
    assert.equal(session.tokens.length, 64);
  });
});

Deno.test("generate: an abort signal ends the generation quietly", async () => {
  await withModel(512, async (model) => {
    const session = new Session(model);
    const controller = new AbortController();
    const generation = generate(session, golden.promptIds, {
      signal: controller.signal,
      stopTokens: [],
      maxNewTokens: 20,
    });
    const ids: number[] = [];
    for await (const token of generation) {
      ids.push(token.id);
      if (ids.length === 2) controller.abort();
    }
    assert.deepEqual(ids, golden.greedyIds.slice(0, 2));
    assert.equal(generation.stopReason, "aborted");
    // The aborted pass left the session consistent: it can continue.
    assert.equal(session.position, golden.promptIds.length + 1);
    await collect(generate(session, [], { maxNewTokens: 1, stopTokens: [] }));
  });
});

Deno.test("generate: onLayer sees every layer of every pass", async () => {
  await withModel(512, async (model) => {
    const session = new Session(model);
    const layers: number[] = [];
    await collect(generate(session, golden.promptIds.slice(0, 10), {
      maxNewTokens: 2,
      stopTokens: [],
      onLayer: (layer) => layers.push(layer),
    }));
    assert.deepEqual(layers, [0, 1, 2, 0, 1, 2]); // 2 layers + classifier, prefill and 1 decode
  });
});

Deno.test("generate: text appears at whole UTF-8 characters, text prompts are encoded", async () => {
  // A fake tokenizer over the tiny vocabulary; the first greedy tokens spell 😀 in pieces.
  const [g0, g1, g2] = golden.greedyIds; // distinct ids
  const pieces = new Map<number, number[]>([
    [g0, [0xf0, 0x9f]],
    [g1, [0x98]],
    [g2, [0x80, 0x21]],
  ]);
  const codec: TextCodec = {
    encode: (text, options) => [
      ...(options?.bos ? [golden.promptIds[0]] : []),
      ...golden.promptIds.slice(1, 1 + text.length),
    ],
    tokenBytes: (id) => new Uint8Array(pieces.get(id) ?? [0x61]),
  };
  await withModel(512, async (model) => {
    const session = new Session(model);
    const text = "x".repeat(golden.promptIds.length - 1);
    const generation = generate(session, text, { tokenizer: codec, maxNewTokens: 3 });
    assert.deepEqual(generation.promptIds, golden.promptIds);
    const tokens = await collect(generation);
    assert.deepEqual(tokens.map((t) => t.text), ["", "", "😀!"]);
    assert.equal(generation.text, "😀!");
  });
});

Deno.test("sessions on separate KV caches do not disturb each other", async () => {
  using checkpoint = loadCheckpoint(golden.dir);
  using model = await Transformer.create(checkpoint, {
    threads: 1,
    contextLength: 512,
    kvCaches: 2,
  });
  const a = new Session(model, { kvCache: 0 }), b = new Session(model, { kvCache: 1 });
  const half = golden.promptIds.length >> 1;
  await a.feed(golden.promptIds.slice(0, half));
  // b writes other keys and values at the same positions.
  await b.feed([...golden.promptIds].reverse());
  const ids = await collect(
    generate(a, golden.promptIds.slice(half), { maxNewTokens: 3, stopTokens: [] }),
  );
  assert.deepEqual(ids.map((t) => t.id), golden.greedyIds.slice(0, 3));
  assert.throws(() => new Session(model, { kvCache: 2 }), UsageError);
  // A new session on cache 1 retires b, not a.
  new Session(model, { kvCache: 1 });
  assert.throws(() => b.reset(), UsageError);
  a.reset();
});

Deno.test("truncate() keeps the cached start: a prompt sharing it runs only its new tokens", async () => {
  await withModel(512, async (model) => {
    const session = new Session(model);
    const n = golden.promptIds.length;
    // The prompt's start, then a wrong ending that the truncation must drop.
    await session.feed([...golden.promptIds.slice(0, n - 5), 1, 2, 3]);
    session.truncate(n - 5);
    assert.equal(session.position, n - 5);
    const generation = generate(session, golden.promptIds.slice(n - 5), {
      maxNewTokens: 3,
      stopTokens: [],
    });
    const ids = await collect(generation);
    assert.equal(generation.stats.promptTokens, 5);
    assert.deepEqual(ids.map((t) => t.id), golden.greedyIds.slice(0, 3));
    // A pending (sampled, not yet run) token is dropped too.
    session.truncate(n);
    assert.equal(session.position, n);
    assert.throws(() => session.truncate(n + 1), UsageError);
  });
});
