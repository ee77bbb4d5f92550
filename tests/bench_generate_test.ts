/**
 * Smoke test of `bench/generate.ts` on a small golden model: the run has the requested shape,
 * its numbers are consistent with one another, and a missing model is a clear error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CheckpointError } from "../lib/errors.ts";
import { formatTable, runGenerateBench } from "../bench/generate.ts";
import { loadGoldenCase } from "./helpers/golden.ts";

Deno.test("bench:generate runs a fixed prompt and greedy decoding and reports its numbers", async () => {
  const golden = loadGoldenCase("gqa_scaled");
  const lines: string[] = [];
  const r = await runGenerateBench({
    model: golden.dir,
    threads: 1,
    promptTokens: 12,
    tokens: 5,
    progress: (text, final) => final && lines.push(text),
  });
  assert.equal(r.promptSource, "random"); // the fixture folder has no tokenizer.model
  assert.equal(r.promptTokens, 12);
  assert.equal(r.generatedTokens, 5);
  assert.equal(r.threads, 1);
  assert.equal(r.mapped, true);
  assert.ok(r.timeToFirstTokenMs >= r.prefillMs && r.prefillMs > 0);
  assert.ok(r.decodeTokensPerSecond > 0 && r.prefillTokensPerSecond > 0);
  assert.ok(Math.abs(r.prefillTokensPerSecond - 12_000 / r.prefillMs) < 1e-9);
  assert.ok(Math.abs(r.decodeTokensPerSecond - 4_000 / r.decodeMs) < 1e-9); // 4 decode steps
  assert.ok(r.loadMs >= r.checkpointMs);
  assert.ok(r.peakRssBytes > 10 * 2 ** 20);
  assert.ok(lines.some((line) => line.startsWith("decode: 5/5")));
  const table = formatTable(r);
  for (const label of ["load time", "time to first token", "prefill", "decode", "peak RSS"]) {
    assert.match(table, new RegExp(`^${label} `, "m"));
  }
});

Deno.test("bench:generate names the folder it could not find", async () => {
  await assert.rejects(
    runGenerateBench({ model: "/nonexistent/llama-bolts-model" }),
    (error: unknown) =>
      error instanceof CheckpointError &&
      error.message.includes("/nonexistent/llama-bolts-model"),
  );
});
