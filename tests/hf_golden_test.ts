/**
 * Hugging Face folders against PyTorch and against Meta's layout. Each case of
 * `tests/fixtures/hf` (written by `tools/make_hf_fixtures.py`) is run from its safetensors
 * folder, with q/k rows in `rotate_half` order, on both backends:
 *
 * - greedy generation must give the reference's ids, each step's logits within 1e-3 of the
 *   float32 transformers-style reference, and the batched prefill the same at a few positions;
 * - where the same weights were also written in Meta's layout (`params.json` +
 *   `consolidated.00.pth`), that folder must match the reference too, and the two layouts must
 *   give logits within 1e-5 of each other over the whole sequence.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "../lib/generate/generate.ts";
import { Session } from "../lib/generate/session.ts";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";
import { loadHuggingFaceCheckpoint } from "../lib/model/hf_checkpoint.ts";
import { Transformer } from "../lib/model/transformer.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/hf/", import.meta.url));
const CASES = ["tied", "sharded_untied", "scaling32_f32"];
const TOLERANCE = 1e-3;
const LAYOUT_TOLERANCE = 1e-5;

interface HfGolden {
  dir: string;
  config: Record<string, unknown>;
  metaParams: Record<string, unknown> | null;
  tiedEmbeddings: boolean;
  shards: number;
  promptIds: number[];
  greedyIds: number[];
  logits: Float32Array[];
  prefillPositions: number[];
  prefillLogits: Float32Array[];
}

function rows(path: string, cols: number): Float32Array[] {
  const bytes = Deno.readFileSync(path);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const out = [];
  for (let r = 0; r * cols < all.length; r++) out.push(all.slice(r * cols, (r + 1) * cols));
  return out;
}

function loadCase(name: string): HfGolden {
  const dir = join(FIXTURES, name);
  const meta = JSON.parse(Deno.readTextFileSync(join(dir, "golden.json")));
  const cols = meta.logits.cols;
  return {
    dir,
    config: meta.config,
    metaParams: meta.metaParams,
    tiedEmbeddings: meta.tiedEmbeddings,
    shards: meta.shards,
    promptIds: meta.promptIds,
    greedyIds: meta.greedyIds,
    logits: rows(join(dir, meta.logits.file), cols),
    prefillPositions: meta.prefillLogits.positions,
    prefillLogits: rows(join(dir, meta.prefillLogits.file), cols),
  };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Greedy generation from the prompt; returns the ids and the worst logit difference. */
async function runGreedy(model: Transformer, golden: HfGolden) {
  const diffs: number[] = [];
  const generation = generate(new Session(model), golden.promptIds, {
    maxNewTokens: golden.greedyIds.length,
    stopTokens: [],
    onLogits: (logits, step) => diffs.push(maxAbsDiff(logits, golden.logits[step])),
  });
  const ids: number[] = [];
  for await (const token of generation) ids.push(token.id);
  return { ids, worst: Math.max(...diffs), steps: diffs.length };
}

Deno.test("hf golden: the loader reads config, shards and names as the fixture says", () => {
  for (const name of CASES) {
    const golden = loadCase(name);
    using checkpoint = loadHuggingFaceCheckpoint(join(golden.dir, "hf"));
    assert.equal(checkpoint.format, "huggingface");
    assert.equal(checkpoint.ropeLayout, "halves");
    assert.equal(checkpoint.weights.files.length, golden.shards);
    assert.equal(checkpoint.tiedEmbeddings, golden.tiedEmbeddings);
    assert.equal(checkpoint.config.hiddenDim, golden.config.intermediate_size);
    assert.equal(checkpoint.config.maxContext, golden.config.max_position_embeddings);
    const wq = checkpoint.tensor("layers.1.attention.wq.weight");
    assert.equal(wq.sourceName, "model.layers.1.self_attn.q_proj.weight");
    assert.equal(
      checkpoint.tensor("tok_embeddings.weight").sourceName,
      "model.embed_tokens.weight",
    );
    // Every tensor is a distinct byte range of the one weights memory.
    const ranges = [...checkpoint.tensors.values()].map((t) => [t.byteOffset, t.byteLength])
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) {
      assert.ok(ranges[i][0] >= ranges[i - 1][0] + ranges[i - 1][1]);
    }
    assert.ok(ranges.at(-1)![0] + ranges.at(-1)![1] <= checkpoint.weights.buffer.byteLength);
  }
});

for (const name of CASES) {
  for (const kernels of ["wasm", "ts"] as const) {
    Deno.test(`hf golden ${name} (${kernels}): greedy generation matches the PyTorch reference`, async () => {
      const golden = loadCase(name);
      using checkpoint = loadHuggingFaceCheckpoint(join(golden.dir, "hf"));
      using model = await Transformer.create(checkpoint, {
        threads: 2,
        contextLength: 512,
        kernels,
      });
      const { ids, worst, steps } = await runGreedy(model, golden);
      assert.deepEqual(ids, golden.greedyIds);
      assert.equal(steps, golden.greedyIds.length);
      assert.ok(worst <= TOLERANCE, `max |logit diff| ${worst} over ${steps} steps`);
    });

    Deno.test(`hf golden ${name} (${kernels}): batched prefill logits at prompt positions`, async () => {
      const golden = loadCase(name);
      using checkpoint = loadHuggingFaceCheckpoint(join(golden.dir, "hf"));
      using model = await Transformer.create(checkpoint, { threads: 1, maxBatch: 64, kernels });
      const all = await model.forwardAll(golden.promptIds, 0);
      const vocab = checkpoint.config.vocabSize;
      golden.prefillPositions.forEach((position, k) => {
        const row = all.subarray(position * vocab, (position + 1) * vocab);
        const diff = maxAbsDiff(row, golden.prefillLogits[k]);
        assert.ok(diff <= TOLERANCE, `position ${position}: max |logit diff| ${diff}`);
      });
    });
  }

  if (!loadCase(name).metaParams) continue;
  Deno.test(`hf golden ${name}: Meta's layout of the same weights gives the same logits`, async () => {
    const golden = loadCase(name);
    using hf = loadHuggingFaceCheckpoint(join(golden.dir, "hf"));
    using meta = loadCheckpoint(join(golden.dir, "meta"));
    assert.equal(meta.ropeLayout, "interleaved");
    for (const key of ["dim", "nHeads", "nKvHeads", "hiddenDim", "maxContext"] as const) {
      assert.equal(hf.config[key], meta.config[key], key);
    }
    assert.deepEqual(hf.config.ropeScaling, meta.config.ropeScaling);
    const sequence = [...golden.promptIds, ...golden.greedyIds.slice(0, -1)];
    for (const kernels of ["wasm", "ts"] as const) {
      using hfModel = await Transformer.create(hf, { threads: 1, kernels });
      using metaModel = await Transformer.create(meta, { threads: 1, kernels });
      const a = await hfModel.forwardAll(sequence, 0);
      const b = await metaModel.forwardAll(sequence, 0);
      const diff = maxAbsDiff(a, b);
      assert.ok(diff <= LAYOUT_TOLERANCE, `${kernels}: layouts ${diff} apart`);
      // And Meta's folder matches the reference on its own.
      const { ids, worst } = await runGreedy(metaModel, golden);
      assert.deepEqual(ids, golden.greedyIds);
      assert.ok(worst <= TOLERANCE, `${kernels}: Meta's layout ${worst} from the reference`);
    }
  });
}
