/**
 * `deno task bench:report`: run the benches (or read a saved run) and print, per group,
 * each bench's time, GFLOP/s, GB/s and how close it comes to this machine's ceiling.
 *
 * ```
 * deno task bench:report                         # all bench/*_bench.ts files
 * deno task bench:report bench/kernels_bench.ts  # some files (ceiling_bench.ts is added)
 * deno task bench:report --input run.json        # a saved `deno bench --json` run; "-" = stdin
 * deno task bench:report --save run.json --markdown --filter matvec
 * ```
 *
 * Rates come from the work each bench declares in its name (see `bench/metrics.ts`) and
 * Deno's average time per iteration.
 *
 * **The ceilings.** There are two, both measured in the same run so that they share the
 * machine's state (clock, load, other tenants):
 * - the FLOP ceiling is the best GFLOP/s among benches marked `ceiling` with
 *   `bound=flops` — plain f32 dot products in L1/L2, i.e. what scalar TypeScript computes
 *   when memory is not in the way;
 * - the memory ceiling is the best GB/s among benches marked `ceiling` with `bound=bytes`
 *   — reads of a 256 MiB array, i.e. how fast one thread can pull bytes from DRAM.
 *
 * Each bench is compared with the ceiling of the resource it declares as its bound: a
 * matvec over weights that do not fit the cache is judged in GB/s against the memory
 * ceiling, a 64-token matmul in GFLOP/s against the FLOP ceiling. Without a `bound`, the
 * larger of the two percentages is shown (the roof the bench is closest to is the one
 * that limits it). Both ceilings are single-threaded, so a kernel spread over several
 * workers can pass 100 %: that is the speed-up over one thread's roof. A bench that stays
 * in cache and is marked `bound=bytes` can also pass 100 %, because cache is faster than
 * DRAM. When the run has no ceiling benches (e.g. `--input` of a kernels-only run), the
 * percentage column shows "–".
 *
 * @module
 */

import { writeFileAtomic } from "../lib/formats/atomic_file.ts";
import { parseArgs } from "node:util";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchWork, type Bound, parseBenchName } from "./metrics.ts";

/** Deno's per-bench statistics, all times in nanoseconds. */
export interface BenchStats {
  n: number;
  min: number;
  max: number;
  avg: number;
  p75: number;
  p99: number;
  p995: number;
  p999: number;
}

/** One bench of a run, with its name parsed. */
export interface BenchRecord {
  /** The module the bench came from (a file: URL). */
  origin: string;
  /** `Deno.bench` group, or null. */
  group: string | null;
  /** The full name, including the work bracket. */
  name: string;
  /** The name without the work bracket. */
  label: string;
  /** The work parsed from the name. */
  work: BenchWork;
  baseline: boolean;
  /** Present when the bench ran. */
  stats?: BenchStats;
  /** Present when the bench threw. */
  error?: string;
}

/** A whole `deno bench --json` run. */
export interface BenchRun {
  runtime: string;
  cpu: string;
  benches: BenchRecord[];
}

/** The best rate of one kind and the bench that reached it. */
export interface Ceiling {
  /** GFLOP/s for `flops`, GB/s for `bytes`. */
  rate: number;
  label: string;
}

/** The run's ceilings; a kind is missing when no bench measured it. */
export interface Ceilings {
  flops?: Ceiling;
  bytes?: Ceiling;
}

/** One printed row. */
export interface ReportRow {
  label: string;
  avgNs?: number;
  minNs?: number;
  gflops?: number;
  gbs?: number;
  /** Fraction (1 = 100 %) of the ceiling of `bound`. */
  ofCeiling?: number;
  /** The ceiling `ofCeiling` refers to. */
  bound?: Bound;
  ceiling: boolean;
  error?: string;
}

/** Rows grouped in the order groups first appear. */
export interface Report {
  runtime: string;
  cpu: string;
  /** The time rates were computed from. */
  stat: RateStat;
  ceilings: Ceilings;
  groups: { title: string; rows: ReportRow[] }[];
}

function fail(what: string): never {
  throw new Error(`bench JSON: ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readStats(ok: Record<string, unknown>, where: string): BenchStats {
  const keys = ["n", "min", "max", "avg", "p75", "p99", "p995", "p999"] as const;
  const stats = {} as BenchStats;
  for (const key of keys) {
    const value = ok[key];
    if (typeof value !== "number" || !Number.isFinite(value)) {
      fail(`expected a number at ${where}.ok.${key}, found ${JSON.stringify(value)}`);
    }
    stats[key] = value;
  }
  return stats;
}

/**
 * Parse the output of `deno bench --json` (format version 1, as written by Deno 2.x):
 * `{ version, runtime, cpu, benches: [{ origin, group, name, baseline, results: [{ ok:
 * { n, min, max, avg, p75, p99, p995, p999, … } } | { failed: { message, … } }] }] }`.
 *
 * @param text the JSON text
 * @returns the run, with each name split into label and work
 * @throws Error naming the first field that does not have the expected shape
 */
export function parseBenchJson(text: string): BenchRun {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (cause) {
    fail(`expected JSON, found text starting ${JSON.stringify(text.slice(0, 40))} (${cause})`);
  }
  if (!isRecord(root)) fail("expected an object at the top level");
  if (root.version !== 1) fail(`expected version 1, found ${JSON.stringify(root.version)}`);
  if (!Array.isArray(root.benches)) fail("expected a `benches` array");
  const benches = root.benches.map((raw: unknown, i: number): BenchRecord => {
    const where = `benches[${i}]`;
    if (!isRecord(raw)) fail(`expected an object at ${where}`);
    const { origin, group, name, baseline, results } = raw;
    if (typeof name !== "string") fail(`expected a string at ${where}.name`);
    if (group !== null && typeof group !== "string") fail(`expected string|null at ${where}.group`);
    if (!Array.isArray(results) || results.length === 0 || !isRecord(results[0])) {
      fail(`expected a non-empty results array at ${where}.results`);
    }
    const result = results[0];
    const { label, work } = parseBenchName(name);
    const record: BenchRecord = {
      origin: typeof origin === "string" ? origin : "",
      group,
      name,
      label,
      work,
      baseline: baseline === true,
    };
    if (isRecord(result.ok)) {
      record.stats = readStats(result.ok, `${where}.results[0]`);
    } else if (isRecord(result.failed)) {
      const message = result.failed.message ?? result.failed.exceptionMessage;
      record.error = typeof message === "string" ? message : "failed";
    } else {
      fail(`expected ok or failed at ${where}.results[0], found ${Object.keys(result)}`);
    }
    return record;
  });
  return {
    runtime: typeof root.runtime === "string" ? root.runtime : "unknown runtime",
    cpu: typeof root.cpu === "string" ? root.cpu : "unknown CPU",
    benches,
  };
}

/**
 * Which of Deno's times rates are computed from: `avg` by default; `min` or `p75` are
 * steadier when other processes share the machine.
 */
export type RateStat = "avg" | "min" | "p75";

/** GFLOP/s and GB/s of a bench from one of its times (work per ns = G per s). */
function rates(b: BenchRecord, stat: RateStat): { gflops?: number; gbs?: number } {
  const ns = b.stats?.[stat];
  if (ns === undefined || ns <= 0) return {};
  return {
    gflops: b.work.flops === undefined ? undefined : b.work.flops / ns,
    gbs: b.work.bytes === undefined ? undefined : b.work.bytes / ns,
  };
}

/**
 * The best rate of each kind among the benches marked `ceiling`.
 *
 * @param benches the run's benches
 * @param stat the time rates are computed from
 * @returns the FLOP and memory ceilings found
 */
export function findCeilings(benches: readonly BenchRecord[], stat: RateStat = "avg"): Ceilings {
  const ceilings: Ceilings = {};
  for (const b of benches) {
    if (!b.work.ceiling || !b.work.bound) continue;
    const r = rates(b, stat);
    const rate = b.work.bound === "flops" ? r.gflops : r.gbs;
    if (rate === undefined) continue;
    const best = ceilings[b.work.bound];
    if (!best || rate > best.rate) ceilings[b.work.bound] = { rate, label: b.label };
  }
  return ceilings;
}

/** How close a bench comes to the ceiling of its bound (see the module doc). */
function ofCeiling(
  b: BenchRecord,
  r: { gflops?: number; gbs?: number },
  ceilings: Ceilings,
): { ofCeiling?: number; bound?: Bound } {
  const fraction = (bound: Bound) => {
    const rate = bound === "flops" ? r.gflops : r.gbs;
    const ceiling = ceilings[bound];
    return rate === undefined || !ceiling ? undefined : rate / ceiling.rate;
  };
  if (b.work.bound) return { ofCeiling: fraction(b.work.bound), bound: b.work.bound };
  const f = fraction("flops"), m = fraction("bytes");
  if (f === undefined && m === undefined) return {};
  if (m === undefined || (f !== undefined && f >= m)) return { ofCeiling: f, bound: "flops" };
  return { ofCeiling: m, bound: "bytes" };
}

/**
 * Turn a run into rows grouped by `Deno.bench` group (or by file when a bench has none).
 *
 * @param run a parsed run
 * @param stat the time rates are computed from
 * @returns the ceilings and the rows
 */
export function buildReport(run: BenchRun, stat: RateStat = "avg"): Report {
  const ceilings = findCeilings(run.benches, stat);
  const groups = new Map<string, ReportRow[]>();
  for (const b of run.benches) {
    const title = b.group ?? basename(b.origin);
    let rows = groups.get(title);
    if (!rows) groups.set(title, rows = []);
    const r = rates(b, stat);
    rows.push({
      label: b.label,
      avgNs: b.stats?.avg,
      minNs: b.stats?.min,
      ...r,
      ...ofCeiling(b, r, ceilings),
      ceiling: b.work.ceiling === true,
      error: b.error,
    });
  }
  return {
    runtime: run.runtime,
    cpu: run.cpu,
    stat,
    ceilings,
    groups: [...groups].map(([title, rows]) => ({ title, rows })),
  };
}

/**
 * A duration in the unit that keeps 3–4 significant digits.
 *
 * @param ns nanoseconds
 */
export function formatTime(ns: number): string {
  if (ns < 1e3) return `${ns.toFixed(1)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

function formatRate(rate: number | undefined): string {
  if (rate === undefined) return "–";
  return rate >= 100 ? rate.toFixed(0) : rate >= 10 ? rate.toFixed(1) : rate.toFixed(2);
}

function formatPercent(row: ReportRow): string {
  if (row.ofCeiling === undefined) return "–";
  const unit = row.bound === "flops" ? "FLOP" : "mem";
  return `${(row.ofCeiling * 100).toFixed(0)} % ${unit}`;
}

const HEADER = ["benchmark", "avg", "min", "GFLOP/s", "GB/s", "% of ceiling"];

function cells(row: ReportRow): string[] {
  if (row.error !== undefined) return [row.label, `failed: ${row.error}`, "", "", "", ""];
  return [
    row.ceiling ? `${row.label} *` : row.label,
    row.avgNs === undefined ? "–" : formatTime(row.avgNs),
    row.minNs === undefined ? "–" : formatTime(row.minNs),
    formatRate(row.gflops),
    formatRate(row.gbs),
    formatPercent(row),
  ];
}

function footnote(report: Report): string {
  return `Rates use the ${report.stat} time; % of ceiling = rate / the run's best ` +
    "single-thread rate of the same kind.";
}

function ceilingLines(report: Report): string[] {
  const { flops, bytes } = report.ceilings;
  return [
    flops
      ? `FLOP ceiling:   ${formatRate(flops.rate)} GFLOP/s (${flops.label})`
      : "FLOP ceiling:   not measured in this run",
    bytes
      ? `memory ceiling: ${formatRate(bytes.rate)} GB/s (${bytes.label})`
      : "memory ceiling: not measured in this run",
  ];
}

/** Names line up on the left, numbers on the right. */
function pad(cell: string, width: number, left: boolean): string {
  return left ? cell.padEnd(width) : cell.padStart(width);
}

/**
 * Plain-text tables, one per group, columns padded to line up.
 *
 * @param report from {@linkcode buildReport}
 */
export function formatText(report: Report): string {
  const lines = [`${report.cpu}, ${report.runtime}`, ...ceilingLines(report)];
  for (const { title, rows } of report.groups) {
    const table = [HEADER, ...rows.map(cells)];
    const widths = HEADER.map((_, c) => Math.max(...table.map((r) => r[c].length)));
    lines.push("", title);
    for (const [i, r] of table.entries()) {
      lines.push(`  ${r.map((cell, c) => pad(cell, widths[c], c === 0)).join("  ").trimEnd()}`);
      if (i === 0) lines.push(`  ${widths.map((w) => "-".repeat(w)).join("  ")}`);
    }
  }
  lines.push("", `* = ceiling bench. ${footnote(report)}`);
  return lines.join("\n");
}

function escapeMarkdown(text: string): string {
  return text.replaceAll("|", "\\|");
}

/**
 * Markdown: the ceilings, then one table per group under a `####` heading.
 *
 * @param report from {@linkcode buildReport}
 */
export function formatMarkdown(report: Report): string {
  const lines = [`${report.cpu}, ${report.runtime}.`, ""];
  for (const line of ceilingLines(report)) lines.push(`- ${line.replace(/:\s+/, ": ")}`);
  for (const { title, rows } of report.groups) {
    lines.push("", `#### ${escapeMarkdown(title)}`, "");
    lines.push(`| ${HEADER.join(" | ")} |`, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for (const row of rows) lines.push(`| ${cells(row).map(escapeMarkdown).join(" | ")} |`);
  }
  lines.push("", `\\* ceiling bench. ${footnote(report)}`);
  return lines.join("\n");
}

/** Permissions the benches need; the same as `deno task bench`. */
const BENCH_PERMISSIONS = ["--allow-read", "--allow-ffi", "--allow-env"];

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

/**
 * The bench files to run: the given ones, or every `*_bench.ts` here. The ceiling bench
 * always runs, first and unfiltered, since the percentages need its rates.
 */
function benchFiles(given: string[]): { ceiling: string; rest: string[] } {
  let files = given;
  if (files.length === 0) {
    files = [...Deno.readDirSync(BENCH_DIR)]
      .filter((e) => e.isFile && e.name.endsWith("_bench.ts"))
      .map((e) => join(BENCH_DIR, e.name))
      .sort();
  }
  return {
    ceiling: join(BENCH_DIR, "ceiling_bench.ts"),
    rest: files.filter((f) => basename(f) !== "ceiling_bench.ts"),
  };
}

/** Run `deno bench --json` over some files and return its JSON text. */
async function runBench(files: string[], filter: string | undefined): Promise<string> {
  const args = ["bench", "--json", ...BENCH_PERMISSIONS];
  if (filter !== undefined) args.push("--filter", filter);
  args.push(...files);
  console.error(`running: deno ${args.join(" ")}`);
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  // A failing bench makes deno exit nonzero, but the JSON is still complete.
  if (!output.success && !text.trimStart().startsWith("{")) {
    throw new Error(`deno bench exited with code ${output.code} and printed no JSON`);
  }
  return text;
}

/**
 * Run the ceiling bench, then the other files (each its own process, so the ceiling's
 * arrays do not stay in the kernels' heap), and merge the two outputs into one run.
 */
async function runBenches(given: string[], filter: string | undefined): Promise<string> {
  const { ceiling, rest } = benchFiles(given);
  console.error("(deno bench prints nothing until it ends; this takes a few minutes)");
  const merged = JSON.parse(await runBench([ceiling], undefined));
  if (rest.length > 0) {
    const more = JSON.parse(await runBench(rest, filter));
    merged.benches.push(...more.benches);
  }
  return JSON.stringify(merged, null, 2);
}

/** Warn when other processes compete for the CPUs (only if loadavg may be read). */
function warnIfBusy(): void {
  if (Deno.permissions.querySync({ name: "sys", kind: "loadavg" }).state !== "granted") return;
  const [load] = Deno.loadavg();
  const cpus = navigator.hardwareConcurrency;
  if (load > 0.5) {
    console.error(
      `note: 1-minute load average is ${load.toFixed(2)} on ${cpus} CPUs before the run;`,
    );
    console.error("      other processes compete with the benches and numbers will be noisy");
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      input: { type: "string" },
      save: { type: "string" },
      filter: { type: "string" },
      markdown: { type: "boolean", default: false },
      stat: { type: "string", default: "avg" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task bench:report [--input FILE|-] [--save FILE] [--filter TEXT] [--markdown] " +
        "[--stat avg|min|p75] " +
        "[FILES...]",
    );
    return 0;
  }
  const stat = values.stat;
  if (stat !== "avg" && stat !== "min" && stat !== "p75") {
    throw new Error(`--stat must be avg, min or p75, found ${JSON.stringify(stat)}`);
  }
  let text: string;
  if (values.input !== undefined) {
    if (positionals.length > 0) throw new Error("give either --input or bench files, not both");
    text = values.input === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(values.input);
  } else {
    warnIfBusy();
    text = await runBenches(positionals, values.filter);
  }
  if (values.save !== undefined) await writeFileAtomic(values.save, text);
  const report = buildReport(parseBenchJson(text), stat);
  console.log(values.markdown ? formatMarkdown(report) : formatText(report));
  return report.groups.some((g) => g.rows.some((r) => r.error !== undefined)) ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    Deno.exitCode = 1;
  }
}
