/**
 * Chapter 14's worked examples: what temperature, top-k and top-p do to a small row of logits,
 * and what the seeded sampler draws from it.
 *
 * ```sh
 * deno run docs/examples/14_sampling.ts
 * ```
 *
 * @module
 */

import { argmax, createSampler, type SamplerOptions } from "../../lib/generate/sampler.ts";

// Eight made-up next tokens after "The capital of France is", with made-up logits.
const WORDS = [" Paris", " a", " the", " located", " Lyon", " not", " one", " known"];
const LOGITS = new Float32Array([9.0, 7.4, 7.0, 6.1, 5.2, 4.8, 4.0, 3.1]);

function probabilities(temperature: number): number[] {
  const e = Array.from(LOGITS, (l) => Math.exp((l - LOGITS[0]) / temperature));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

console.log("token       logit   p(T=0.6)  p(T=1)  p(T=1.5)");
const [cold, plain, hot] = [0.6, 1, 1.5].map(probabilities);
for (let i = 0; i < WORDS.length; i++) {
  console.log(
    `${JSON.stringify(WORDS[i]).padEnd(11)} ${LOGITS[i].toFixed(1).padStart(5)}   ` +
      `${cold[i].toFixed(3).padStart(7)}  ${plain[i].toFixed(3).padStart(6)}  ${
        hot[i].toFixed(3).padStart(8)
      }`,
  );
}

console.log("");
// Top-p at T = 1: the smallest set of most likely tokens holding at least p of the mass.
for (const p of [0.9, 0.95]) {
  let mass = 0, nucleus = 0;
  while (mass < p) mass += plain[nucleus++];
  console.log(
    `top-p ${p} at T=1 keeps ${nucleus} tokens (${(100 * mass).toFixed(1)}% of the mass)`,
  );
}
console.log(`\ngreedy (argmax): ${JSON.stringify(WORDS[argmax(LOGITS)])}`);

/** Draws `n` tokens with a fresh sampler and counts them. */
function draw(options: SamplerOptions, n: number): { first: string; counts: number[] } {
  const sampler = createSampler(options);
  const counts = new Array(WORDS.length).fill(0);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = sampler.sample(LOGITS);
    counts[id]++;
    if (i < 8) ids.push(id);
  }
  return { first: ids.join(" "), counts };
}

console.log(
  `\n${"10000 draws of".padEnd(34)} ${"first 8 ids".padEnd(16)} counts per token id 0..7`,
);
for (
  const options of [
    { temperature: 1, seed: 42 },
    { temperature: 1, seed: 42 },
    { temperature: 1, seed: 7 },
    { temperature: 0.6, seed: 42 },
    { temperature: 1, topK: 2, seed: 42 },
    { temperature: 1, topP: 0.95, seed: 42 },
  ] as SamplerOptions[]
) {
  const { first, counts } = draw(options, 10000);
  const name = Object.entries(options).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(`${name.padEnd(34)} ${first.padEnd(16)} ${counts.join(" ")}`);
}
