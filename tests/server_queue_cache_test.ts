/**
 * The server's request queue and prompt cache on their own: first come first served, a bound
 * that refuses with 503 and `Retry-After`, a waiting client that leaves frees its place; the
 * prompt cache picks the session sharing the longest start (else the least recently used) and
 * its logits equal a fresh run's (golden model "tied").
 *
 * @module
 */

import assert from "node:assert/strict";
import { ApiError } from "../lib/server/api_error.ts";
import { findRoute } from "../lib/server/routes.ts";
import type { Engine } from "../lib/server/engine.ts";
import { RequestQueue } from "../lib/server/request_queue.ts";
import { commonPrefixLength, PromptCache } from "../lib/server/prompt_cache.ts";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";
import { Transformer } from "../lib/model/transformer.ts";
import { Session } from "../lib/generate/session.ts";
import { loadGoldenCase } from "./helpers/golden.ts";

Deno.test("request queue: one at a time, in order, bounded, leaving frees the place", async () => {
  const queue = new RequestQueue(2);
  const order: string[] = [];
  const first = await queue.acquire();
  assert.equal(queue.running, true);
  const leaving = new AbortController();
  const b = queue.acquire().then((turn) => {
    order.push("b");
    return turn;
  });
  const c = queue.acquire(leaving.signal);
  assert.equal(queue.waiting, 2);
  await assert.rejects(
    queue.acquire(),
    (error: ApiError) =>
      error.status === 503 && error.headers["retry-after"] === "1" &&
      error.code === "server_busy",
  );
  leaving.abort(new Error("client left"));
  await assert.rejects(c, /client left/);
  assert.equal(queue.waiting, 1);
  const d = queue.acquire().then((turn) => {
    order.push("d");
    return turn;
  });
  first.release();
  (await b).release();
  (await d)[Symbol.dispose]();
  assert.deepEqual(order, ["b", "d"]);
  assert.equal(queue.running, false);
  queue.close();
  await assert.rejects(queue.acquire(), (error: ApiError) => error.status === 503);
});

Deno.test("prompt cache: longest common start, else least recently used; logits as fresh", async () => {
  assert.equal(commonPrefixLength([1, 2, 3], [1, 2, 4, 5]), 2);
  assert.equal(commonPrefixLength([], [1]), 0);
  const golden = loadGoldenCase("tied");
  using checkpoint = loadCheckpoint(golden.dir);
  using model = await Transformer.create(checkpoint, {
    threads: 1,
    contextLength: 256,
    kvCaches: 2,
  });
  const cache = new PromptCache(model);
  const a = golden.promptIds.slice(0, 40), b = [...golden.promptIds].reverse().slice(0, 30);
  const takeA = cache.take(a);
  assert.equal(takeA.cachedTokens, 0);
  await takeA.session.feed(takeA.newTokens);
  const takeB = cache.take(b); // nothing in common with a: the other (unused) session
  assert.notEqual(takeB.session, takeA.session);
  await takeB.session.feed(takeB.newTokens);
  // a continued: its session, only the new tokens to run.
  const longer = golden.promptIds.slice(0, 50);
  const again = cache.take(longer);
  assert.equal(again.session, takeA.session);
  assert.equal(again.cachedTokens, 40);
  assert.deepEqual(again.newTokens, longer.slice(40));
  const logits = Array.from(await again.session.feed(again.newTokens));
  // The same prompt run from nothing (on another transformer) gives the same logits.
  using other = await Transformer.create(checkpoint, { threads: 1, contextLength: 256 });
  assert.deepEqual(Array.from(await new Session(other).feed(longer)), logits);
  // A prompt entirely cached still runs its last token (for the logits).
  const same = cache.take(longer);
  assert.equal(same.cachedTokens, 49);
  assert.deepEqual(same.newTokens, [longer[49]]);
  assert.equal(cache.usedPositions, 49 + 30);
});

Deno.test("serve routes: /health answers 503 with Retry-After until the model is loaded", async () => {
  const route = findRoute("GET", "/health");
  const context = {
    body: undefined,
    signal: new AbortController().signal,
    loadedAt: 0,
    page: new Map(),
  };
  const loading = await route.handle({ ...context, engine: null });
  assert.equal(loading.status, 503);
  assert.equal(loading.headers.get("retry-after"), "1");
  assert.deepEqual(await loading.json(), { status: "loading" });
  // Any engine object counts as loaded; /health does not call it.
  const ready = await route.handle({ ...context, engine: {} as Engine });
  assert.equal(ready.status, 200);
});
