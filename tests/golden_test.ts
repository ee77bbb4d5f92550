/**
 * The forward pass against PyTorch: every golden case (tests/fixtures/golden, written by
 * tools/make_golden.py) is prefilled and decoded greedily through `generate`, with the workers
 * the CLI uses; each step's logits must be within 1e-3 of the reference and the greedy ids
 * identical. The prefill logits at a few prompt positions check the causal mask of a batch.
 * Every case runs on both backends: the WebAssembly SIMD kernels and the TypeScript ones.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";
import { Transformer } from "../lib/model/transformer.ts";
import { generate } from "../lib/generate/generate.ts";
import { Session } from "../lib/generate/session.ts";
import { GOLDEN_CASES, loadGoldenCase } from "./helpers/golden.ts";

const TOLERANCE = 1e-3;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

for (const name of GOLDEN_CASES) {
  for (const kernels of ["wasm", "ts"] as const) {
    Deno.test(`golden ${name} (${kernels}): greedy generation matches PyTorch logits and ids`, async () => {
      const golden = loadGoldenCase(name);
      using checkpoint = loadCheckpoint(golden.dir);
      using model = await Transformer.create(checkpoint, {
        threads: 2,
        contextLength: 1024,
        kernels,
      });
      const session = new Session(model);
      const diffs: number[] = [];
      const generation = generate(session, golden.promptIds, {
        maxNewTokens: golden.greedyIds.length,
        stopTokens: [],
        onLogits: (logits, step) => diffs.push(maxAbsDiff(logits, golden.logits[step])),
      });
      const ids: number[] = [];
      for await (const token of generation) ids.push(token.id);
      assert.deepEqual(ids, golden.greedyIds);
      assert.equal(diffs.length, golden.greedyIds.length);
      const worst = Math.max(...diffs);
      assert.ok(worst <= TOLERANCE, `max |logit diff| ${worst} over ${diffs.length} steps`);
      assert.equal(generation.stopReason, "max-tokens");
    });

    Deno.test(`golden ${name} (${kernels}): batched prefill logits at prompt positions`, async () => {
      const golden = loadGoldenCase(name);
      using checkpoint = loadCheckpoint(golden.dir);
      // A prefill chunk smaller than the prompt: the cache carries over between chunks.
      using model = await Transformer.create(checkpoint, { threads: 1, maxBatch: 100, kernels });
      const all = await model.forwardAll(golden.promptIds, 0);
      const vocab = checkpoint.config.vocabSize;
      golden.prefillPositions.forEach((position, k) => {
        const row = all.subarray(position * vocab, (position + 1) * vocab);
        const diff = maxAbsDiff(row, golden.prefillLogits[k]);
        assert.ok(diff <= TOLERANCE, `position ${position}: max |logit diff| ${diff}`);
      });
    });
  }
}
