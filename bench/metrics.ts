/**
 * The naming convention that lets `bench/report.ts` turn bench times into rates.
 *
 * `Deno.bench` has no metadata field, so each bench carries its work in its name, in a
 * trailing bracket:
 *
 * ```
 * dot f32 n=4096 4 acc [flops=8192 bytes=32768 bound=flops ceiling]
 * ```
 *
 * - `flops=N` — floating-point operations per iteration (a multiply-add counts as 2).
 * - `bytes=N` — distinct bytes the iteration must bring in: every weight byte once, each
 *   input vector once (even when a kernel re-reads it from cache), each output once.
 * - `bound=flops|bytes` — which resource limits this bench; the report compares it with
 *   the ceiling of that kind.
 * - `ceiling` — this bench measures the machine rather than a kernel: the best rate among
 *   the `ceiling` benches of a kind is that kind's ceiling in the run.
 *
 * Keys are separated by spaces or commas; unknown keys are kept, so new ones can be added
 * without breaking old reports.
 *
 * @example
 * ```ts
 * import { benchName, parseBenchName } from "./metrics.ts";
 *
 * const name = benchName("dot f32 n=4096", { flops: 8192, bytes: 32768, bound: "flops" });
 * parseBenchName(name).work.flops; // 8192
 * ```
 *
 * @module
 */

/** Which ceiling a bench is compared with. */
export type Bound = "flops" | "bytes";

/** The work one iteration of a bench does. */
export interface BenchWork {
  /** Floating-point operations per iteration. */
  flops?: number;
  /** Distinct bytes read or written per iteration. */
  bytes?: number;
  /** The resource that limits the bench. */
  bound?: Bound;
  /** True when the bench is a candidate for its kind's ceiling. */
  ceiling?: boolean;
  /** Any other `key=value` pairs found in the name. */
  extra?: Readonly<Record<string, string>>;
}

/** A bench name split into its label and its work. */
export interface ParsedBenchName {
  /** The name without the trailing bracket, trimmed. */
  label: string;
  /** What the bracket said; empty when the name has none. */
  work: BenchWork;
}

/**
 * Build a bench name that carries its work.
 *
 * @param label what a reader sees, e.g. `"matvec bf16 4096x4096"`
 * @param work per-iteration work; omitted fields are left out of the name
 * @returns `label [flops=… bytes=… bound=… ceiling]`
 */
export function benchName(label: string, work: BenchWork): string {
  const parts: string[] = [];
  if (work.flops !== undefined) parts.push(`flops=${work.flops}`);
  if (work.bytes !== undefined) parts.push(`bytes=${work.bytes}`);
  if (work.bound !== undefined) parts.push(`bound=${work.bound}`);
  if (work.ceiling) parts.push("ceiling");
  for (const [key, value] of Object.entries(work.extra ?? {})) parts.push(`${key}=${value}`);
  return parts.length === 0 ? label : `${label} [${parts.join(" ")}]`;
}

const TRAILING_BRACKET = /\s*\[([^\[\]]*)\]\s*$/;

/**
 * Split a bench name into its label and work. Names without a trailing bracket, or with
 * values that are not numbers where numbers are expected, parse to a label with no work.
 *
 * @param name a name as `Deno.bench` reported it
 * @returns the label and the parsed work
 */
export function parseBenchName(name: string): ParsedBenchName {
  const match = TRAILING_BRACKET.exec(name);
  if (!match) return { label: name.trim(), work: {} };
  const work: BenchWork = {};
  const extra: Record<string, string> = {};
  for (const token of match[1].split(/[\s,]+/)) {
    if (token === "") continue;
    const eq = token.indexOf("=");
    const key = eq < 0 ? token : token.slice(0, eq);
    const value = eq < 0 ? "" : token.slice(eq + 1);
    if (key === "flops" || key === "bytes") {
      const n = Number(value);
      if (value !== "" && Number.isFinite(n) && n >= 0) work[key] = n;
    } else if (key === "bound") {
      if (value === "flops" || value === "bytes") work.bound = value;
    } else if (key === "ceiling" && eq < 0) {
      work.ceiling = true;
    } else {
      extra[key] = value;
    }
  }
  if (Object.keys(extra).length > 0) work.extra = extra;
  return { label: name.slice(0, match.index).trim(), work };
}
