/**
 * The fuzz loop: for one target, mutate its seeds case after case (each case's random source
 * derived from the run's seed and the case number, so any case replays alone), run each in
 * the {@linkcode CaseRunner}, count outcomes, and save every input that ended in a crash, a
 * hang or a memory blow-up under `tests/fixtures/fuzz_findings/<target>/`, where the test
 * suite replays them.
 *
 * @example
 * ```ts
 * import { fuzzTarget } from "./fuzz.ts";
 * import { CaseRunner } from "./harness.ts";
 * import { TARGETS } from "./targets.ts";
 *
 * await using runner = await CaseRunner.start();
 * const report = await fuzzTarget(runner, TARGETS.get("zip")!, { cases: 100, seed: 1 });
 * report.counts; // { clean: 83, accepted: 17, crash: 0, hang: 0, memory: 0 }
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../lib/formats/atomic_file.ts";
import { type CaseRunner, type Outcome, OUTCOMES } from "./harness.ts";
import { Random } from "./mutate.ts";
import type { Target } from "./targets.ts";

/** Where findings go, one folder per target. */
export const FINDINGS_DIR: string = fileURLToPath(
  new URL("../tests/fixtures/fuzz_findings/", import.meta.url),
);

/** How long and how to fuzz. */
export interface FuzzOptions {
  /** Stop after this many seconds (unless `cases` comes first). */
  seconds?: number;
  /** Stop after this many cases. */
  cases?: number;
  /** The run's seed. */
  seed: number;
  /** Time limit of one case (default 5000 ms). */
  timeoutMs?: number;
  /** Save non-clean inputs (default false). */
  save?: boolean;
  /** Called now and then with the cases run so far. */
  onProgress?: (cases: number, counts: Readonly<Record<Outcome, number>>) => void;
}

/** An input that ended badly. */
export interface Finding {
  readonly outcome: Outcome;
  readonly detail: string;
  readonly caseIndex: number;
  /** Where it was saved, if it was. */
  readonly path?: string;
}

/** What one target's run found. */
export interface FuzzReport {
  readonly target: string;
  readonly seed: number;
  readonly cases: number;
  readonly seconds: number;
  readonly counts: Readonly<Record<Outcome, number>>;
  /** One finding per distinct kind (the detail with its numbers blanked). */
  readonly findings: readonly Finding[];
  /** The slowest case that ended in time, in ms. */
  readonly slowestMs: number;
}

/** The random source of case `index` of a run with `seed`. */
export function caseRandom(seed: number, index: number): Random {
  return new Random(((seed >>> 0) * 0x9e3779b1 + index * 0x85ebca6b) >>> 0 ^ index);
}

/**
 * The input of case `index` of a run with `seed`.
 *
 * @param target The target.
 * @param seeds Its seeds (from `target.seeds()`).
 * @param seed The run's seed.
 * @param index The case number.
 * @returns The mutated input.
 */
export function caseInput(
  target: Target,
  seeds: ReadonlyArray<{ bytes: Uint8Array }>,
  seed: number,
  index: number,
): Uint8Array {
  const random = caseRandom(seed, index);
  return target.mutate(random.pick(seeds).bytes, random);
}

/**
 * Fuzzes one target.
 *
 * @param runner Where cases run.
 * @param target The target.
 * @param options Budget, seed, limits.
 * @returns The counts and distinct findings.
 */
export async function fuzzTarget(
  runner: CaseRunner,
  target: Target,
  options: FuzzOptions,
): Promise<FuzzReport> {
  const seeds = target.seeds();
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const kinds = new Map<string, Finding>();
  const started = performance.now();
  const deadline = options.seconds === undefined ? Infinity : started + options.seconds * 1000;
  const maxCases = options.cases ?? Infinity;
  let slowestMs = 0;
  let index = 0;
  for (; index < maxCases && performance.now() < deadline; index++) {
    const input = caseInput(target, seeds, options.seed, index);
    const result = await runner.run(target.name, input, options.timeoutMs ?? 5000);
    counts[result.outcome]++;
    if (result.outcome !== "hang") slowestMs = Math.max(slowestMs, result.ms);
    if (result.outcome !== "clean" && result.outcome !== "accepted") {
      const kind = `${result.outcome}: ${result.detail.replace(/\d+/g, "N")}`;
      if (!kinds.has(kind)) {
        const path = options.save
          ? await saveFinding(target.name, input, result, options.seed, index)
          : undefined;
        kinds.set(kind, { outcome: result.outcome, detail: result.detail, caseIndex: index, path });
      }
    }
    if (index % 200 === 199) options.onProgress?.(index + 1, counts);
  }
  return {
    target: target.name,
    seed: options.seed,
    cases: index,
    seconds: (performance.now() - started) / 1000,
    counts,
    findings: [...kinds.values()],
    slowestMs,
  };
}

async function saveFinding(
  target: string,
  input: Uint8Array,
  result: { outcome: Outcome; detail: string },
  seed: number,
  index: number,
): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input.slice()));
  const hash = [...digest.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const dir = join(FINDINGS_DIR, target);
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, `${result.outcome}-${hash}.bin`);
  await writeFileAtomic(path, input);
  await writeFileAtomic(
    path.replace(/\.bin$/, ".txt"),
    `target: ${target}\noutcome: ${result.outcome}\ndetail: ${result.detail}\n` +
      `found by: deno task fuzz --target ${target} --seed ${seed} (case ${index})\n`,
  );
  return path;
}
