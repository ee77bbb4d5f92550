/**
 * Tests of `bench/report.ts` and `bench/metrics.ts` on a sample of `deno bench --json`
 * output captured from Deno 2.9.6 (trimmed: fewer benches, shortened error frames).
 * Expected rates are worked out by hand from the sample's numbers.
 */

import assert from "node:assert/strict";
import { benchName, parseBenchName } from "../bench/metrics.ts";
import {
  buildReport,
  findCeilings,
  formatMarkdown,
  formatText,
  formatTime,
  parseBenchJson,
} from "../bench/report.ts";

const SAMPLE = `{
  "version": 1,
  "runtime": "Deno/2.9.6 x86_64-unknown-linux-gnu",
  "cpu": "AMD EPYC",
  "benches": [
    {
      "origin": "file:///work/main/bench/other_bench.ts",
      "group": null,
      "name": "no work declared",
      "baseline": false,
      "results": [
        {
          "ok": {
            "n": 4733, "min": 4.6196, "max": 832.3423, "avg": 10.580835537713973,
            "p75": 8.1162, "p99": 17.0639, "p995": 413.7306, "p999": 418.2,
            "highPrecision": false, "usedExplicitTimers": false
          }
        }
      ]
    },
    {
      "origin": "file:///work/main/bench/other_bench.ts",
      "group": null,
      "name": "bad",
      "baseline": false,
      "results": [
        {
          "failed": {
            "name": "Error",
            "message": "boom",
            "stack": "Error: boom\\n    at fn (file:///work/main/bench/other_bench.ts:4:40)",
            "cause": null,
            "exceptionMessage": "Uncaught Error: boom",
            "frames": [],
            "sourceLine": "Deno.bench({ name: \\"bad\\", fn() { throw new Error(\\"boom\\"); } });",
            "sourceLineFrameIndex": 0,
            "aggregated": null,
            "additionalProperties": [],
            "stackIsCustom": false
          }
        }
      ]
    },
    {
      "origin": "file:///work/main/bench/ceiling_bench.ts",
      "group": "ceiling f32 dot in cache",
      "name": "dot f32 n=2048 (L1) 1 acc [flops=4096 bytes=16384 bound=flops ceiling]",
      "baseline": false,
      "results": [
        {
          "ok": {
            "n": 63618, "min": 2064.0, "max": 91220.1, "avg": 8192,
            "p75": 2171.3, "p99": 41000.2, "p995": 52000.9, "p999": 80000.4,
            "highPrecision": true, "usedExplicitTimers": false
          }
        }
      ]
    },
    {
      "origin": "file:///work/main/bench/ceiling_bench.ts",
      "group": "ceiling f32 dot in cache",
      "name": "dot f32 n=2048 (L1) 4 acc [flops=4096 bytes=16384 bound=flops ceiling]",
      "baseline": true,
      "results": [
        {
          "ok": {
            "n": 121690, "min": 1960.0, "max": 70110.5, "avg": 2048,
            "p75": 2001.7, "p99": 30000.1, "p995": 40000.3, "p999": 60000.8,
            "highPrecision": true, "usedExplicitTimers": false
          }
        }
      ]
    },
    {
      "origin": "file:///work/main/bench/ceiling_bench.ts",
      "group": "ceiling memory read 256 MiB",
      "name": "one u32 per 64 B line [bytes=268435456 bound=bytes ceiling]",
      "baseline": false,
      "results": [
        {
          "ok": {
            "n": 25, "min": 21990000, "max": 90000000, "avg": 33554432,
            "p75": 50000000, "p99": 90000000, "p995": 90000000, "p999": 90000000,
            "highPrecision": false, "usedExplicitTimers": false
          }
        }
      ]
    },
    {
      "origin": "file:///work/main/bench/kernels_bench.ts",
      "group": "matvec bf16",
      "name": "matvec bf16 4096x4096 [flops=33554432 bytes=33587200 bound=bytes]",
      "baseline": false,
      "results": [
        {
          "ok": {
            "n": 16, "min": 16000000, "max": 30000000, "avg": 16793600,
            "p75": 17000000, "p99": 30000000, "p995": 30000000, "p999": 30000000,
            "highPrecision": false, "usedExplicitTimers": false
          }
        }
      ]
    },
    {
      "origin": "file:///work/main/bench/kernels_bench.ts",
      "group": "matvec bf16",
      "name": "roofline only [flops=1000 bytes=8000]",
      "baseline": false,
      "results": [
        {
          "ok": {
            "n": 16, "min": 1000, "max": 1000, "avg": 1000,
            "p75": 1000, "p99": 1000, "p995": 1000, "p999": 1000,
            "highPrecision": false, "usedExplicitTimers": false
          }
        }
      ]
    }
  ]
}`;

Deno.test("parseBenchName reads the work bracket", () => {
  assert.deepEqual(parseBenchName("dot f32 n=4096 [flops=8192, bytes=32768 bound=flops ceiling]"), {
    label: "dot f32 n=4096",
    work: { flops: 8192, bytes: 32768, bound: "flops", ceiling: true },
  });
  assert.deepEqual(parseBenchName("plain name"), { label: "plain name", work: {} });
  // Only a trailing bracket counts; unknown keys are kept, bad numbers dropped.
  assert.deepEqual(parseBenchName("a [x] b [bytes=nope threads=2]"), {
    label: "a [x] b",
    work: { extra: { threads: "2" } },
  });
  assert.deepEqual(parseBenchName("z [bound=cycles]"), { label: "z", work: {} });
});

Deno.test("benchName writes what parseBenchName reads", () => {
  const name = benchName("matvec bf16 4096x4096", {
    flops: 33554432,
    bytes: 33587200,
    bound: "bytes",
    extra: { threads: "2" },
  });
  assert.equal(name, "matvec bf16 4096x4096 [flops=33554432 bytes=33587200 bound=bytes threads=2]");
  assert.deepEqual(parseBenchName(name), {
    label: "matvec bf16 4096x4096",
    work: { flops: 33554432, bytes: 33587200, bound: "bytes", extra: { threads: "2" } },
  });
  assert.equal(benchName("bare", {}), "bare");
});

Deno.test("parseBenchJson reads Deno 2.9's bench JSON, ok and failed results", () => {
  const run = parseBenchJson(SAMPLE);
  assert.equal(run.cpu, "AMD EPYC");
  assert.equal(run.runtime, "Deno/2.9.6 x86_64-unknown-linux-gnu");
  assert.equal(run.benches.length, 7);
  const [plain, bad, acc1] = run.benches;
  assert.equal(plain.group, null);
  assert.equal(plain.stats?.n, 4733);
  assert.equal(plain.stats?.p995, 413.7306);
  assert.equal(bad.error, "boom");
  assert.equal(bad.stats, undefined);
  assert.equal(acc1.label, "dot f32 n=2048 (L1) 1 acc");
  assert.equal(acc1.group, "ceiling f32 dot in cache");
  assert.equal(run.benches[3].baseline, true);
});

Deno.test("parseBenchJson names the field that is wrong", () => {
  assert.throws(() => parseBenchJson("Check bench.ts"), /expected JSON/);
  assert.throws(
    () => parseBenchJson('{"version": 2, "benches": []}'),
    /expected version 1, found 2/,
  );
  assert.throws(
    () =>
      parseBenchJson('{"version": 1, "benches": [{"name": "x", "group": null, "results": []}]}'),
    /benches\[0\]\.results/,
  );
  assert.throws(
    () =>
      parseBenchJson(
        '{"version": 1, "benches": [{"name": "x", "group": null, "results": [{"ok": {"n": 1}}]}]}',
      ),
    /benches\[0\]\.results\[0\]\.ok\.min/,
  );
});

Deno.test("ceilings are the best rate of each kind among ceiling benches", () => {
  const run = parseBenchJson(SAMPLE);
  // 4096 flops / 2048 ns = 2 GFLOP/s beats 4096 / 8192 = 0.5; 268435456 B / 33554432 ns = 8 GB/s.
  assert.deepEqual(findCeilings(run.benches), {
    flops: { rate: 2, label: "dot f32 n=2048 (L1) 4 acc" },
    bytes: { rate: 8, label: "one u32 per 64 B line" },
  });
  // From min times instead: 4096 / 1960 and 268435456 / 21990000.
  const fromMin = findCeilings(run.benches, "min");
  assert.ok(Math.abs(fromMin.flops!.rate - 4096 / 1960) < 1e-12);
  assert.ok(Math.abs(fromMin.bytes!.rate - 268435456 / 21990000) < 1e-12);
});

Deno.test("rows carry rates and the percentage of their bound's ceiling", () => {
  const report = buildReport(parseBenchJson(SAMPLE));
  assert.deepEqual(report.groups.map((g) => g.title), [
    "other_bench.ts",
    "ceiling f32 dot in cache",
    "ceiling memory read 256 MiB",
    "matvec bf16",
  ]);
  const [acc1, acc4] = report.groups[1].rows;
  assert.equal(acc1.gflops, 0.5);
  assert.equal(acc1.gbs, 2);
  assert.equal(acc1.ofCeiling, 0.25);
  assert.equal(acc1.bound, "flops");
  assert.equal(acc4.ofCeiling, 1);
  assert.equal(acc4.ceiling, true);
  // 33587200 B / 16793600 ns = 2 GB/s of an 8 GB/s memory ceiling.
  const [matvec, roofline] = report.groups[3].rows;
  assert.equal(matvec.gbs, 2);
  assert.equal(matvec.ofCeiling, 0.25);
  assert.equal(matvec.bound, "bytes");
  // No bound: 1 GFLOP/s is 50 % of 2, 8 GB/s is 100 % of 8; the closer roof wins.
  assert.equal(roofline.ofCeiling, 1);
  assert.equal(roofline.bound, "bytes");
  const [plain, bad] = report.groups[0].rows;
  assert.equal(plain.ofCeiling, undefined);
  assert.equal(bad.error, "boom");
});

Deno.test("text and Markdown output", () => {
  const report = buildReport(parseBenchJson(SAMPLE));
  const text = formatText(report);
  assert.match(text, /FLOP ceiling: +2\.00 GFLOP\/s \(dot f32 n=2048 \(L1\) 4 acc\)/);
  assert.match(text, /memory ceiling: 8\.00 GB\/s \(one u32 per 64 B line\)/);
  assert.match(text, /matvec bf16 4096x4096 +16\.79 ms +16\.00 ms +2\.00 +2\.00 +25 % mem/);
  assert.match(text, /bad +failed: boom/);
  const md = formatMarkdown(report);
  assert.ok(md.includes("#### matvec bf16"));
  assert.ok(
    md.includes("| dot f32 n=2048 (L1) 4 acc * | 2.05 µs | 1.96 µs | 2.00 | 8.00 | 100 % FLOP |"),
  );
  assert.ok(md.includes("| no work declared | 10.6 ns | 4.6 ns | – | – | – |"));
});

Deno.test("formatTime picks a readable unit", () => {
  assert.equal(formatTime(10.58), "10.6 ns");
  assert.equal(formatTime(2048), "2.05 µs");
  assert.equal(formatTime(16793600), "16.79 ms");
  assert.equal(formatTime(2.5e9), "2.50 s");
});
