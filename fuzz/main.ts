/**
 * `deno task fuzz`: mutates the committed fixtures and feeds them to every reader of untrusted
 * files, with a time and memory limit per case, and reports how each case ended: a clean
 * error, accepted, a crash (any other exception, an over-long or unescaped message, or views
 * outside the file), a hang, or a memory blow-up. Inputs that end badly are saved under
 * `tests/fixtures/fuzz_findings/<target>/`, which the test suite replays.
 *
 * ```text
 * deno task fuzz [--target zip|pickle|pth|params|tokenizer|safetensors|gguf] [--seconds N]
 *                [--cases N] [--seed S] [--timeout-ms N] [--no-save]
 * ```
 *
 * `--seconds` is per target (default 60); without `--target` every target runs in turn.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fuzzTarget } from "./fuzz.ts";
import { CaseRunner, OUTCOMES } from "./harness.ts";
import { TARGETS } from "./targets.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    target: { type: "string", multiple: true },
    seconds: { type: "string" },
    cases: { type: "string" },
    seed: { type: "string" },
    "timeout-ms": { type: "string" },
    "no-save": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(
    "deno task fuzz [--target " + [...TARGETS.keys()].join("|") + "] [--seconds N per target]" +
      " [--cases N] [--seed S] [--timeout-ms N] [--no-save]",
  );
  Deno.exit(0);
}

const names = values.target ?? [...TARGETS.keys()];
for (const name of names) {
  if (!TARGETS.has(name)) {
    console.error(
      `fuzz: unknown target ${name}; expected one of ${[...TARGETS.keys()].join(", ")}`,
    );
    Deno.exit(2);
  }
}
const number = (text: string | undefined, fallback?: number): number | undefined => {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`fuzz: expected a number, found ${text}`);
    Deno.exit(2);
  }
  return n;
};
const seed = number(values.seed) ?? (crypto.getRandomValues(new Uint32Array(1))[0] >>> 1);
const cases = number(values.cases);
const seconds = number(values.seconds, cases === undefined ? 60 : undefined);
const timeoutMs = number(values["timeout-ms"], 5000);

console.log(`fuzz: seed ${seed}${seconds === undefined ? "" : `, ${seconds} s per target`}`);
let bad = 0;
await using runner = await CaseRunner.start();
for (const name of names) {
  const report = await fuzzTarget(runner, TARGETS.get(name)!, {
    seed,
    seconds,
    cases,
    timeoutMs,
    save: !values["no-save"],
    onProgress: (n, counts) => {
      if (!Deno.stderr.isTerminal()) return;
      const text = OUTCOMES.map((o) => `${o} ${counts[o]}`).join(", ");
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${name}: ${n} cases: ${text}`));
    },
  });
  if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  const counts = OUTCOMES.map((o) => `${o} ${report.counts[o]}`).join(", ");
  console.log(
    `${name}: ${report.cases} cases in ${report.seconds.toFixed(1)} s (${counts}); ` +
      `slowest ${report.slowestMs} ms`,
  );
  for (const finding of report.findings) {
    bad++;
    console.log(
      `  ${finding.outcome} (case ${finding.caseIndex}): ${finding.detail}` +
        (finding.path ? `\n    saved ${finding.path}` : ""),
    );
  }
}
Deno.exitCode = bad > 0 ? 1 : 0;
