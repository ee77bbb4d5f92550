/**
 * Runs fuzz cases with a time and memory limit: each case goes to a runner process
 * (`runner.ts`, started with a capped V8 heap). A case that does not answer in time, having
 * used that much CPU time, is a hang (the runner is killed and restarted); a runner that dies
 * is a memory blow-up when V8 says it ran out of heap, else a crash; a case after which the
 * runner holds more than the resident-memory limit is a memory blow-up too.
 *
 * @example
 * ```ts
 * import { CaseRunner } from "./harness.ts";
 *
 * await using runner = await CaseRunner.start();
 * const result = await runner.run("zip", new Uint8Array(22), 5000);
 * result.outcome; // "clean"
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** How a case ended. */
export type Outcome = "clean" | "accepted" | "crash" | "hang" | "memory";

/** Every outcome, in report order. */
export const OUTCOMES: readonly Outcome[] = ["clean", "accepted", "crash", "hang", "memory"];

/** One case's result. */
export interface CaseResult {
  readonly outcome: Outcome;
  /** The first line of the error, or why it was classified so. */
  readonly detail: string;
  /** Milliseconds the case took (the time limit for a hang). */
  readonly ms: number;
}

/** Limits of {@linkcode CaseRunner.start}. */
export interface RunnerLimits {
  /** V8 old-space limit of the runner, in MiB (default 1024). */
  heapMB?: number;
  /** Resident memory after a case above which it counts as a memory blow-up (default 1536). */
  rssLimitMB?: number;
}

const HERE = fileURLToPath(new URL("./", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../tests/fixtures/", import.meta.url));
const encoder = new TextEncoder();

/** One runner process and its output, line by line. */
class RunnerProcess {
  readonly child: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;
  stderr = "";

  constructor(heapMB: number) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--v8-flags=--max-old-space-size=${heapMB}`,
        `--allow-read=${FIXTURES}`,
        "--no-prompt",
        join(HERE, "runner.ts"),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = lines(this.child.stdout)[Symbol.asyncIterator]();
    const stderr = this.child.stderr;
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stderr) {
        this.stderr = (this.stderr + decoder.decode(chunk, { stream: true })).slice(-4096);
      }
    })();
  }

  /** The next line, or undefined when the process ended. */
  async next(): Promise<string | undefined> {
    const { value, done } = await this.#lines.next();
    return done ? undefined : value;
  }

  async send(target: string, bytes: Uint8Array): Promise<void> {
    const name = encoder.encode(target);
    const frame = new Uint8Array(8 + name.length + bytes.length);
    const view = new DataView(frame.buffer);
    view.setUint32(0, name.length, true);
    frame.set(name, 4);
    view.setUint32(4 + name.length, bytes.length, true);
    frame.set(bytes, 8 + name.length);
    const writer = this.child.stdin.getWriter();
    try {
      await writer.write(frame);
    } finally {
      writer.releaseLock();
    }
  }

  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already ended
    }
    await this.child.status;
    try {
      await this.child.stdin.close();
    } catch {
      // closed with the process
    }
  }
}

/** The promise's value, or "timeout" after `ms`. */
async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((done) => {
    timer = setTimeout(() => done("timeout"), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * CPU time (user + system) a process has used, in ms, from `/proc/PID/stat` (read with `cat`:
 * Deno grants other processes' /proc files only to --allow-all); undefined where there is none.
 */
async function cpuMs(pid: number): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stderr: "null" })
      .output();
    if (!out.success) return undefined;
    const stat = new TextDecoder().decode(out.stdout);
    // Fields after the command name (which may hold spaces), from field 3: utime and stime
    // are fields 14 and 15, in clock ticks of 1/100 s.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, at);
      pending = pending.slice(at + 1);
    }
  }
}

/** Runs cases in a runner process, restarting it after a hang or a death. */
export class CaseRunner implements AsyncDisposable {
  #process: RunnerProcess | undefined;
  readonly #heapMB: number;
  readonly #rssLimitMB: number;
  /** How many times the runner was started. */
  starts = 0;

  /** The runner process's id (undefined between a death and the next case). */
  get pid(): number | undefined {
    return this.#process?.child.pid;
  }

  private constructor(limits: RunnerLimits) {
    this.#heapMB = limits.heapMB ?? 1024;
    this.#rssLimitMB = limits.rssLimitMB ?? 1536;
  }

  /**
   * Starts a runner.
   *
   * @param limits Heap and resident-memory limits.
   * @returns The runner, ready for cases.
   */
  static async start(limits: RunnerLimits = {}): Promise<CaseRunner> {
    const runner = new CaseRunner(limits);
    await runner.#spawn();
    return runner;
  }

  async #spawn(): Promise<RunnerProcess> {
    const process = new RunnerProcess(this.#heapMB);
    this.starts++;
    const first = await process.next();
    if (first === undefined || !first.includes("ready")) {
      await process.kill();
      throw new Error(`the fuzz runner did not start: ${process.stderr.slice(-500)}`);
    }
    this.#process = process;
    return process;
  }

  /**
   * Runs one case.
   *
   * @param target The target's name.
   * @param bytes The input.
   * @param timeoutMs The time limit.
   * @returns How it ended.
   */
  async run(target: string, bytes: Uint8Array, timeoutMs: number): Promise<CaseResult> {
    const process = this.#process ?? await this.#spawn();
    const started = performance.now();
    let line: string | undefined | "timeout";
    try {
      await process.send(target, bytes);
      const answer = process.next();
      line = await raceTimeout(answer, timeoutMs);
      // A case is a hang when the runner spends the time computing, not merely waiting: on a
      // loaded machine (or a paused one) a quick case can take seconds of wall time. So after
      // the limit, wait one more limit while watching the runner's CPU time (Linux: /proc);
      // if it used less than half of it, it was starved, not stuck: wait on (up to ten limits).
      for (let windows = 1; line === "timeout" && windows < 10; windows++) {
        const before = await cpuMs(process.child.pid);
        if (before === undefined) break;
        line = await raceTimeout(answer, timeoutMs);
        const after = await cpuMs(process.child.pid);
        if (line !== "timeout" || after === undefined || after - before >= timeoutMs / 2) break;
      }
    } catch {
      line = undefined; // the process ended while we wrote
    }
    const ms = Math.round(performance.now() - started);
    if (line === "timeout") {
      await this.#restart();
      return { outcome: "hang", detail: `no answer in ${timeoutMs} ms`, ms };
    }
    if (line === undefined) {
      const status = await process.child.status;
      const stderr = process.stderr;
      this.#process = undefined;
      await process.kill();
      const oom = /out of memory|heap limit|allocation failed/i.test(stderr);
      const last = stderr.trim().split("\n").filter((l) => l.trim() !== "").at(0) ?? "";
      return {
        outcome: oom ? "memory" : "crash",
        detail: oom
          ? `runner out of memory (heap limit ${this.#heapMB} MiB)`
          : `runner died (code ${status.code}${status.signal ? `, ${status.signal}` : ""}): ${
            last.slice(0, 200)
          }`,
        ms,
      };
    }
    const result = JSON.parse(line) as {
      outcome: Outcome;
      detail: string;
      ms: number;
      rssMB: number;
    };
    if (result.rssMB > this.#rssLimitMB) {
      await this.#restart();
      return {
        outcome: "memory",
        detail: `resident memory ${result.rssMB} MiB after the case`,
        ms,
      };
    }
    return { outcome: result.outcome, detail: result.detail, ms: result.ms };
  }

  async #restart(): Promise<void> {
    const old = this.#process;
    this.#process = undefined;
    await old?.kill();
  }

  /** Stops the runner process. */
  async close(): Promise<void> {
    await this.#restart();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
