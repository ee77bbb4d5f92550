/**
 * Sampler and PRNG tests. Reference values: the published first outputs of xoshiro128**
 * and SplitMix64, and probabilities computed here from the softmax formula, independently
 * of the sampler's code.
 */

import assert from "node:assert/strict";
import { UsageError } from "../lib/errors.ts";
import { SplitMix64, Xoshiro128StarStar } from "../lib/generate/random.ts";
import {
  argmax,
  createSampler,
  greedySampler,
  type SamplerOptions,
  validateSamplerOptions,
} from "../lib/generate/sampler.ts";

/** Exact softmax of logits / temperature, in float64. */
function softmax(logits: readonly number[], temperature = 1): number[] {
  const scaled = logits.map((x) => x / temperature);
  const max = Math.max(...scaled);
  const e = scaled.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

/** Draw `n` tokens and count them per id. */
function histogram(options: SamplerOptions, logits: Float32Array, n: number): Map<number, number> {
  const sampler = createSampler(options);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const id = sampler.sample(logits);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/**
 * Asserts the drawn frequencies match `expected` (id -> probability): nothing outside the
 * support, and each frequency within 5 standard errors of its probability.
 */
function assertFrequencies(counts: Map<number, number>, expected: Map<number, number>, n: number) {
  for (const id of counts.keys()) {
    assert.ok(expected.has(id), `drew token ${id}, which has probability 0`);
  }
  for (const [id, p] of expected) {
    const f = (counts.get(id) ?? 0) / n;
    const tolerance = 5 * Math.sqrt(p * (1 - p) / n) + 1e-9;
    assert.ok(
      Math.abs(f - p) <= tolerance,
      `token ${id}: frequency ${f.toFixed(5)}, expected ${p.toFixed(5)} ± ${tolerance.toFixed(5)}`,
    );
  }
}

const LOGITS = new Float32Array([2, 1, 0, -1]);
const N = 50_000;

Deno.test("xoshiro128** matches the reference outputs for state (1, 2, 3, 4)", () => {
  // First outputs of the reference C implementation (prng.di.unimi.it), as used in the
  // test suites of e.g. the Rust rand_xoshiro crate.
  const rng = new Xoshiro128StarStar(1, 2, 3, 4);
  const got = Array.from({ length: 5 }, () => rng.nextUint32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883]);
});

Deno.test("SplitMix64 matches the reference outputs for seed 1234567", () => {
  const mix = new SplitMix64(1234567n);
  const got = Array.from({ length: 5 }, () => mix.next());
  assert.deepEqual(got, [
    6457827717110365317n,
    3203168211198807973n,
    9817491932198370423n,
    4593380528125082431n,
    16408922859458223821n,
  ]);
});

Deno.test("xoshiro128** floats are in [0, 1) with mean 1/2", () => {
  const rng = Xoshiro128StarStar.fromSeed(5);
  let sum = 0;
  for (let i = 0; i < 100_000; i++) {
    const u = rng.nextFloat();
    assert.ok(u >= 0 && u < 1);
    sum += u;
  }
  assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.005);
});

Deno.test("temperature 1 reproduces the softmax distribution", () => {
  const p = softmax([2, 1, 0, -1]);
  const counts = histogram({ temperature: 1, seed: 1 }, LOGITS, N);
  assertFrequencies(counts, new Map(p.map((x, i) => [i, x])), N);
});

Deno.test("temperature scales the logits", () => {
  for (const temperature of [0.5, 2]) {
    const p = softmax([2, 1, 0, -1], temperature);
    const counts = histogram({ temperature, seed: 2 }, LOGITS, N);
    assertFrequencies(counts, new Map(p.map((x, i) => [i, x])), N);
  }
});

Deno.test("top-k 2 draws only the two most likely tokens, renormalized", () => {
  const e2 = Math.exp(2), e1 = Math.exp(1);
  const expected = new Map([[0, e2 / (e2 + e1)], [1, e1 / (e2 + e1)]]);
  assertFrequencies(histogram({ temperature: 1, topK: 2, seed: 3 }, LOGITS, N), expected, N);
  // With the logits shuffled, the same two tokens (by value) are chosen.
  const shuffled = new Float32Array([0, 2, -1, 1]);
  const expectedShuffled = new Map([[1, expected.get(0)!], [3, expected.get(1)!]]);
  assertFrequencies(
    histogram({ temperature: 1, topK: 2, seed: 3 }, shuffled, N),
    expectedShuffled,
    N,
  );
});

Deno.test("top-p 0.7 keeps the nucleus {0, 1}; top-p 0.9 keeps {0, 1, 2}", () => {
  // softmax([2, 1, 0, -1]) = [0.644, 0.237, 0.087, 0.032]: cumulative 0.644, 0.881, 0.968.
  const p = softmax([2, 1, 0, -1]);
  for (const [topP, size] of [[0.7, 2], [0.9, 3], [0.6, 1]] as const) {
    const kept = p.slice(0, size);
    const total = kept.reduce((a, b) => a + b, 0);
    const expected = new Map(kept.map((x, i) => [i, x / total]));
    // Through the top-p-only path: top-k off, or not smaller than the vocabulary.
    for (const topK of [undefined, 0, 4]) {
      const counts = histogram({ temperature: 1, topP, topK, seed: 4 }, LOGITS, N);
      assertFrequencies(counts, expected, N);
    }
  }
});

Deno.test("top-k then top-p: the nucleus is taken from the renormalized top k", () => {
  // top-k 3 renormalizes softmax([2, 1, 0]) = [0.665, 0.245, 0.090]: cumulative 0.665,
  // 0.910, so top-p 0.9 keeps {0, 1} although over all four tokens it would keep three.
  const p3 = softmax([2, 1, 0]);
  const expected = new Map([[0, p3[0] / (p3[0] + p3[1])], [1, p3[1] / (p3[0] + p3[1])]]);
  const counts = histogram({ temperature: 1, topK: 3, topP: 0.9, seed: 5 }, LOGITS, N);
  assertFrequencies(counts, expected, N);
  // And top-p 0.95 keeps all three of them.
  const all3 = new Map(p3.map((x, i) => [i, x]));
  assertFrequencies(
    histogram({ temperature: 1, topK: 3, topP: 0.95, seed: 5 }, LOGITS, N),
    all3,
    N,
  );
});

/** Reference nucleus: sort everything by (probability desc, id asc), take the prefix. */
function referenceNucleus(logits: Float32Array, temperature: number, topP: number): number[] {
  const p = softmax(Array.from(logits), temperature);
  const ids = p.map((_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  const nucleus: number[] = [];
  let acc = 0;
  for (const id of ids) {
    nucleus.push(id);
    acc += p[id];
    if (acc >= topP) break;
  }
  return nucleus;
}

Deno.test("top-p on a large vocabulary matches a full sort", () => {
  // A head of 60 plausible tokens over a tail of 1000 unlikely ones: enough candidates pass
  // the nucleus floor for the quickselect to partition several times.
  const rng = Xoshiro128StarStar.fromSeed(99);
  const logits = new Float32Array(1060);
  for (let i = 0; i < logits.length; i++) {
    logits[i] = i % 17 === 0 && i < 1020 ? 3 + 3 * rng.nextFloat() : -2 + rng.nextFloat();
  }
  for (const [topP, temperature] of [[0.8, 1], [0.95, 0.7], [0.5, 1.5]]) {
    const nucleus = referenceNucleus(logits, temperature, topP);
    assert.ok(nucleus.length > 16, "the case should exercise the partitioning");
    const p = softmax(Array.from(logits), temperature);
    const total = nucleus.reduce((a, id) => a + p[id], 0);
    const expected = new Map(nucleus.map((id) => [id, p[id] / total]));
    const counts = histogram({ temperature, topP, seed: 6 }, logits, 20_000);
    assertFrequencies(counts, expected, 20_000);
  }
});

Deno.test("ties: top-p and top-k prefer the lowest ids", () => {
  const flat = new Float32Array(128256);
  // Uniform: the nucleus for p = 0.5 is exactly the lower half of the ids.
  const sampler = createSampler({ temperature: 1, topP: 0.5, seed: 8 });
  let maxId = 0;
  for (let i = 0; i < 300; i++) maxId = Math.max(maxId, sampler.sample(flat));
  assert.ok(maxId < 64128, `drew ${maxId}`);
  assert.ok(maxId > 60000, "the whole nucleus should be reachable");
  // top-k 3 over equal logits: ids 0, 1, 2.
  const small = new Float32Array(10).fill(1.5);
  const counts = histogram({ temperature: 1, topK: 3, seed: 9 }, small, 30_000);
  assertFrequencies(counts, new Map([[0, 1 / 3], [1, 1 / 3], [2, 1 / 3]]), 30_000);
  // A tiny top-p on a uniform row keeps just token 0.
  const tiny = createSampler({ temperature: 1, topP: 1e-9, seed: 10 });
  for (let i = 0; i < 100; i++) assert.equal(tiny.sample(flat), 0);
});

Deno.test("greedy: temperature 0 is argmax, ties to the lowest id", () => {
  const logits = new Float32Array([1, 3, 3, 2]);
  assert.equal(argmax(logits), 1);
  assert.equal(greedySampler.sample(logits), 1);
  const greedy = createSampler({ temperature: 0, topK: 2, topP: 0.5, seed: 1 });
  for (let i = 0; i < 10; i++) assert.equal(greedy.sample(logits), 1);
});

Deno.test("same seed, same tokens; different seeds, different tokens", () => {
  const draw = (options: SamplerOptions) => {
    const s = createSampler(options);
    return Array.from({ length: 200 }, () => s.sample(LOGITS));
  };
  for (const extra of [{}, { topK: 3 }, { topP: 0.95 }]) {
    const a = draw({ temperature: 1, seed: 42, ...extra });
    const b = draw({ temperature: 1, seed: 42, ...extra });
    const c = draw({ temperature: 1, seed: 43, ...extra });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  }
  // No seed: one is drawn, reported, and reproduces the run when passed back.
  const unseeded = createSampler({ temperature: 1 });
  assert.ok(Number.isSafeInteger(unseeded.options.seed));
  const first = Array.from({ length: 200 }, () => unseeded.sample(LOGITS));
  assert.deepEqual(first, draw({ temperature: 1, seed: unseeded.options.seed }));
});

Deno.test("invalid options throw UsageError naming the valid range", () => {
  const bad: [SamplerOptions, RegExp][] = [
    [{ temperature: -0.1 }, /temperature must be a finite number ≥ 0.*found -0.1/],
    [{ temperature: NaN }, /temperature.*found NaN/],
    [{ temperature: Infinity }, /temperature.*found Infinity/],
    [{ temperature: 1, topP: 0 }, /top-p must be a number in \(0, 1\].*found 0/],
    [{ temperature: 1, topP: 1.5 }, /top-p.*found 1.5/],
    [{ temperature: 1, topP: NaN }, /top-p.*found NaN/],
    [{ temperature: 1, topK: -1 }, /top-k must be an integer ≥ 0.*found -1/],
    [{ temperature: 1, topK: 2.5 }, /top-k.*found 2.5/],
    [{ temperature: 1, seed: 1.5 }, /seed must be an integer.*found 1.5/],
    [{ temperature: 1, seed: 2 ** 60 }, /seed must be an integer/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => validateSamplerOptions(options), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, message);
      return true;
    });
    assert.throws(() => createSampler(options), UsageError);
  }
  validateSamplerOptions({ temperature: 0, topK: 0, topP: 1, seed: -5 });
});

Deno.test("timing: one sample over a 128256-token vocabulary", () => {
  const rng = Xoshiro128StarStar.fromSeed(2024);
  const logits = new Float32Array(128256);
  // Roughly the spread of real Llama logits: most around 0, a few far above.
  for (let i = 0; i < logits.length; i++) {
    logits[i] = 3 * (rng.nextFloat() + rng.nextFloat() + rng.nextFloat() - 1.5);
  }
  for (let i = 0; i < 20; i++) logits[(i * 7919) % logits.length] = 12 + i * 0.1;
  const cases: [string, SamplerOptions][] = [
    ["greedy", { temperature: 0 }],
    ["temperature 1", { temperature: 1, seed: 1 }],
    ["top-k 40", { temperature: 1, topK: 40, seed: 1 }],
    ["top-p 0.9", { temperature: 1, topP: 0.9, seed: 1 }],
    ["top-p 0.9, temperature 2", { temperature: 2, topP: 0.9, seed: 1 }],
    ["top-k 40 + top-p 0.9", { temperature: 0.6, topK: 40, topP: 0.9, seed: 1 }],
  ];
  const lines: string[] = [];
  for (const [name, options] of cases) {
    const sampler = createSampler(options);
    for (let i = 0; i < 5; i++) sampler.sample(logits); // warm up, allocate scratch
    const runs = 50;
    const start = performance.now();
    for (let i = 0; i < runs; i++) sampler.sample(logits);
    const ms = (performance.now() - start) / runs;
    lines.push(`${name}: ${ms.toFixed(3)} ms/sample`);
    assert.ok(ms < 50, `${name} took ${ms} ms per sample`);
  }
  console.log(lines.join("\n"));
});
