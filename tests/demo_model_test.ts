/**
 * The trained demo model (`assets/demo_model/weights.safetensors`, written by
 * `tools/train_demo_model.py`), expanded into Meta's format as the demo does, against what
 * PyTorch computed when it was trained (`tests/fixtures/demo_model/`):
 *
 * - golden: a fixed prompt and 32 greedy steps, every logit within 1e-3 of the reference;
 * - perplexity on the fixed held-out slice within 1% of the training script's figure, and a
 *   random-weight model of the same shape orders of magnitude worse;
 * - tokens that never occurred in the corpus take no probability;
 * - sampled text is mostly dictionary words (Debian's `wamerican` list; `.ci/run` installs it).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expandCompactModel, readCompactModel } from "../lib/model/compact_model.ts";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";
import { perplexity } from "../lib/model/perplexity.ts";
import { writeSyntheticModel } from "../lib/model/synthetic.ts";
import { Transformer } from "../lib/model/transformer.ts";
import { generate } from "../lib/generate/generate.ts";
import { Session } from "../lib/generate/session.ts";
import { createSampler } from "../lib/generate/sampler.ts";
import { Tokenizer } from "../lib/tokenizer/tokenizer.ts";
import { TRAINED_MODEL_FILE, TRAINED_PROMPTS } from "../tools/demo.ts";
import { tokenizerPath } from "./helpers/llama3_tokenizer.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/demo_model/", import.meta.url));
const WORD_LIST = "/usr/share/dict/american-english";
const TOLERANCE = 1e-3;

interface Golden {
  promptIds: number[];
  greedyIds: number[];
  steps: number;
  logits: { file: string; rows: number; cols: number };
  unseenLogits: number[];
}

let expanded: Promise<string> | undefined;
/** The trained model in Meta's format, in a temporary folder removed at exit. */
function trainedDir(): Promise<string> {
  return expanded ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "llama-bolts-demo-model-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    await expandCompactModel(readCompactModel(TRAINED_MODEL_FILE), dir);
    await Deno.copyFile(await tokenizerPath(), join(dir, "tokenizer.model"));
    return dir;
  })();
}

const training = JSON.parse(Deno.readTextFileSync(join(FIXTURES, "training.json")));

Deno.test("demo model: 32 greedy steps match PyTorch's logits within 1e-3", async () => {
  // Every token that occurred is compared absolutely; the unseen ones (identical rows, logits
  // near -1300) relatively.
  const golden: Golden = JSON.parse(await Deno.readTextFile(join(FIXTURES, "golden.json")));
  const compact = readCompactModel(TRAINED_MODEL_FILE);
  const reference = new Float32Array(
    (await Deno.readFile(join(FIXTURES, golden.logits.file))).buffer,
  );
  assert.equal(reference.length, golden.steps * compact.rowIds.length);
  const seen = new Int32Array(128256).fill(-1);
  compact.rowIds.forEach((id, i) => seen[id] = i);

  using checkpoint = loadCheckpoint(await trainedDir());
  using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 256 });
  const session = new Session(model);
  let worst = 0;
  let worstUnseen = 0;
  const generation = generate(session, golden.promptIds, {
    maxNewTokens: golden.steps,
    stopTokens: [],
    onLogits: (logits, step) => {
      const row = reference.subarray(step * compact.rowIds.length);
      for (let id = 0; id < logits.length; id++) {
        if (seen[id] >= 0) {
          worst = Math.max(worst, Math.abs(logits[id] - row[seen[id]]));
        } else {
          // About -1300: float32's spacing there is 1.2e-4, so compare relatively.
          const want = golden.unseenLogits[step];
          worstUnseen = Math.max(worstUnseen, Math.abs(logits[id] - want) / Math.abs(want));
        }
      }
    },
  });
  const ids: number[] = [];
  for await (const token of generation) ids.push(token.id);
  assert.deepEqual(ids, golden.greedyIds);
  assert.ok(worst <= TOLERANCE, `max |logit diff| ${worst}`);
  assert.ok(worstUnseen <= 1e-5, `unseen tokens' logits: max relative diff ${worstUnseen}`);
  console.log(
    `  max |logit diff| over ${golden.steps} steps: ${worst.toExponential(2)} ` +
      `(unseen tokens: relative ${worstUnseen.toExponential(2)})`,
  );
});

Deno.test("demo model: held-out perplexity matches training; random weights are far worse", async () => {
  const dir = await trainedDir();
  const tok = Tokenizer.load(join(dir, "tokenizer.model"));
  const ids = tok.encode(await Deno.readTextFile(join(FIXTURES, "slice.txt")));
  assert.equal(ids.length, training.slice_tokens);

  using checkpoint = loadCheckpoint(dir);
  using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 128 });
  const ours = await perplexity(model, ids, { chunk: training.context });
  const relative = Math.abs(ours.perplexity - training.slice_perplexity) /
    training.slice_perplexity;
  assert.ok(relative < 0.01, `ours ${ours.perplexity}, PyTorch ${training.slice_perplexity}`);

  // The same shape with random weights (seeded): the first 512 tokens are enough to tell.
  const randomDir = await Deno.makeTempDir({ prefix: "llama-bolts-random-demo-" });
  try {
    await writeSyntheticModel(randomDir, readCompactModel(TRAINED_MODEL_FILE).params, {
      seed: 12,
      dtype: "bf16",
    });
    using randomCheckpoint = loadCheckpoint(randomDir);
    using random = await Transformer.create(randomCheckpoint, { threads: 2, contextLength: 128 });
    const worse = await perplexity(random, ids.slice(0, 512), { chunk: training.context });
    console.log(
      `  held-out slice perplexity: trained ${ours.perplexity.toFixed(2)} (PyTorch ` +
        `${training.slice_perplexity.toFixed(2)}), random weights ${worse.perplexity.toFixed(0)}`,
    );
    assert.ok(
      worse.perplexity > 100 * ours.perplexity,
      `random ${worse.perplexity} vs trained ${ours.perplexity}`,
    );
  } finally {
    await Deno.remove(randomDir, { recursive: true });
  }
});

Deno.test("demo model: tokens that never occurred take no probability", async () => {
  const dir = await trainedDir();
  const compact = readCompactModel(TRAINED_MODEL_FILE);
  const seen = new Uint8Array(128256);
  for (const id of compact.rowIds) seen[id] = 1;
  const tok = Tokenizer.load(join(dir, "tokenizer.model"));
  // A prompt that ends in a token the corpus never had must not break this either.
  const unseenPrompt = tok.encode("The jury met in Kubernetes", { bos: true });
  assert.ok(unseenPrompt.some((id) => !seen[id]), "expected an unseen token in the prompt");
  const prose = tok.encode(await Deno.readTextFile(join(FIXTURES, "slice.txt")), { bos: true });

  using checkpoint = loadCheckpoint(dir);
  using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 128 });
  let worst = 0;
  for (const tokens of [prose.slice(0, 128), unseenPrompt]) {
    const all = await model.forwardAll(tokens, 0);
    for (let t = 0; t < tokens.length; t++) {
      const row = all.subarray(t * 128256, (t + 1) * 128256);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let total = 0;
      let unseen = 0;
      for (let id = 0; id < row.length; id++) {
        const p = Math.exp(row[id] - max);
        total += p;
        if (!seen[id]) unseen += p;
      }
      worst = Math.max(worst, unseen / total);
    }
  }
  assert.ok(worst < 1e-9, `unseen tokens took up to ${worst} of the probability`);
});

Deno.test("demo model: sampled text is mostly dictionary words", async () => {
  let list: string;
  try {
    list = await Deno.readTextFile(WORD_LIST);
  } catch {
    throw new Error(`no ${WORD_LIST}: apt-get install -y wamerican (.ci/run does)`);
  }
  const dictionary = new Set(list.split("\n").map((w) => w.toLowerCase()));
  const dir = await trainedDir();
  const tok = Tokenizer.load(join(dir, "tokenizer.model"));
  using checkpoint = loadCheckpoint(dir);
  using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 512 });
  let text = "";
  for (const [i, seed] of [1, 2, 3].entries()) {
    const session = new Session(model);
    const prompt = TRAINED_PROMPTS[0].prompt;
    const generation = generate(session, prompt, {
      tokenizer: tok,
      maxNewTokens: 128,
      stopTokens: [],
      sampler: createSampler({ temperature: 0.7, topP: 0.9, seed: seed + i }),
    });
    for await (const token of generation) text += token.text;
    text += "\n";
  }
  const words = text.match(/[A-Za-z]+/g) ?? [];
  const known = words.filter((w) => dictionary.has(w.toLowerCase()));
  const share = known.length / words.length;
  console.log(
    `  ${known.length} of ${words.length} generated words are in ${WORD_LIST} ` +
      `(${(100 * share).toFixed(1)}%); sample: ${JSON.stringify(text.slice(0, 160))}`,
  );
  assert.ok(words.length > 100, `expected over 100 words, found ${words.length}`);
  assert.ok(share >= 0.8, `only ${(100 * share).toFixed(1)}% dictionary words`);
});
