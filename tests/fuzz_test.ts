/**
 * The fuzzer inside the test suite: first every saved finding
 * (`tests/fixtures/fuzz_findings/<target>/*.bin`, inputs that once crashed, hung or blew up
 * a reader) is replayed and must now end cleanly; then each target runs a short, fixed-seed
 * budget of fresh cases, none of which may crash, hang or blow up. `deno task fuzz` runs the
 * same targets for longer (README: "Fuzzing").
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { FINDINGS_DIR, fuzzTarget } from "../fuzz/fuzz.ts";
import { CaseRunner } from "../fuzz/harness.ts";
import { TARGETS } from "../fuzz/targets.ts";

/** Fresh cases per target in CI: about 1-3 s each on a 2-core machine. */
const CI_CASES = 1500;
const CI_SEED = 20261202;

function findings(target: string): string[] {
  try {
    return [...Deno.readDirSync(join(FINDINGS_DIR, target))]
      .filter((e) => e.isFile && e.name.endsWith(".bin"))
      .map((e) => join(FINDINGS_DIR, target, e.name))
      .sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

Deno.test("fuzz: every saved finding now ends in a clean error or is accepted", async () => {
  await using runner = await CaseRunner.start({ heapMB: 512 });
  let replayed = 0;
  for (const target of TARGETS.keys()) {
    for (const path of findings(target)) {
      const result = await runner.run(target, Deno.readFileSync(path), 10_000);
      assert.ok(
        result.outcome === "clean" || result.outcome === "accepted",
        `${path}: ${result.outcome}: ${result.detail}`,
      );
      replayed++;
    }
  }
  console.log(`replayed ${replayed} findings`);
});

for (const target of TARGETS.values()) {
  Deno.test(`fuzz: ${target.name}, ${CI_CASES} cases of seed ${CI_SEED}`, async () => {
    await using runner = await CaseRunner.start({ heapMB: 512 });
    const report = await fuzzTarget(runner, target, {
      cases: CI_CASES,
      seed: CI_SEED,
      timeoutMs: 10_000,
    });
    console.log(
      `${target.name}: ${report.cases} cases in ${report.seconds.toFixed(1)} s: ` +
        Object.entries(report.counts).map(([o, n]) => `${o} ${n}`).join(", "),
    );
    assert.deepEqual(
      report.findings.map((f) => `${f.outcome} (case ${f.caseIndex}): ${f.detail}`),
      [],
    );
    assert.ok(report.counts.clean > 0 && report.counts.accepted > 0, "mutations reach both ends");
  });
}

/** Four little-endian bytes: how long the runner's `spin` case computes, in ms. */
const spin = (ms: number) => new Uint8Array(new Uint32Array([ms]).buffer);

Deno.test("fuzz harness: a case that computes past the limit is a hang; a quick one is not", async () => {
  await using runner = await CaseRunner.start();
  assert.equal((await runner.run("spin", spin(50), 400)).outcome, "accepted");
  const stuck = await runner.run("spin", spin(5000), 400);
  assert.equal(stuck.outcome, "hang");
  // Found after the limit and one more window of CPU time, not after the case's 5 s.
  assert.ok(stuck.ms < 2000, `${stuck.ms} ms`);
  assert.equal((await runner.run("spin", spin(10), 400)).outcome, "accepted");
});

Deno.test({
  name: "fuzz harness: a runner paused past the limit (a starved one) is not a hang",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using runner = await CaseRunner.start();
    const pid = runner.pid!;
    Deno.kill(pid, "SIGSTOP");
    const resume = setTimeout(() => Deno.kill(pid, "SIGCONT"), 1200);
    try {
      const started = performance.now();
      const result = await runner.run("spin", spin(20), 300);
      assert.equal(result.outcome, "accepted", result.detail);
      const waited = performance.now() - started;
      assert.ok(waited >= 1000, `answered after ${waited} ms, before the pause ended`);
    } finally {
      clearTimeout(resume);
      Deno.kill(pid, "SIGCONT");
    }
  },
});
