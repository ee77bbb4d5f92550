/**
 * A pool of threads that split each heavy operation of the forward pass between them.
 *
 * The threads share memory: weights are views over the same mapped file, activations and the
 * KV cache live in `SharedArrayBuffer`s. A job is therefore just an op code and three integers
 * written to a small shared control block; the caller bumps a sequence number and wakes the
 * workers with `Atomics.notify`, each worker runs its share of the rows and decrements a
 * pending count, and the last one wakes the caller. `postMessage` is used only to start the
 * workers and to report a crash.
 *
 * The caller waits with `Atomics.waitAsync`, so {@linkcode Pool.run} returns a promise and the
 * event loop keeps running during a forward pass (abort signals, Ctrl+C handlers, timers).
 *
 * What a job means is not this module's business: workers run the {@linkcode JobRunner} that
 * `worker.ts` builds from the init message, and {@linkcode InlinePool} runs the same runner on
 * the calling thread. A runner must compute the same result for every element whatever share
 * it is given, so results never depend on the number of threads.
 *
 * @example
 * ```ts
 * import { InlinePool, shareStart } from "./pool.ts";
 *
 * const out = new Float32Array(10);
 * using pool = new InlinePool((op, a, _b, _c, worker, workers) => {
 *   const start = shareStart(out.length, worker, workers);
 *   const end = shareStart(out.length, worker + 1, workers);
 *   for (let i = start; i < end; i++) out[i] = op * a;
 * });
 * await pool.run(2, 21); // every element is 42
 * ```
 *
 * @module
 */

/**
 * Runs one thread's share of a job.
 *
 * @param op What to do (the runner's own op codes; never negative).
 * @param a First argument.
 * @param b Second argument.
 * @param c Third argument.
 * @param worker This thread's index, `0 <= worker < workers`.
 * @param workers How many threads share the job.
 */
export type JobRunner = (
  op: number,
  a: number,
  b: number,
  c: number,
  worker: number,
  workers: number,
) => void;

/** Threads that run jobs together. */
export interface Pool extends Disposable {
  /** Number of threads sharing each job (0 for {@linkcode InlinePool}: the caller's own). */
  readonly workers: number;
  /** Runs one job on every thread and resolves when all are done; rejects if one failed. */
  run(op: number, a?: number, b?: number, c?: number): Promise<void>;
  /** Stops the threads. Idempotent. */
  close(): void;
}

/**
 * The first index of worker `worker`'s share of `total` items split into `workers` contiguous
 * ranges; its share ends where worker `worker + 1`'s starts.
 *
 * @param total Number of items.
 * @param worker Worker index (`workers` gives `total`).
 * @param workers Number of workers.
 * @returns The first item of the share.
 */
export function shareStart(total: number, worker: number, workers: number): number {
  return Math.floor((total * worker) / workers);
}

/** Runs every job on the calling thread: no workers, no shared memory needed. */
export class InlinePool implements Pool {
  readonly workers = 0;
  #runner: JobRunner;

  /**
   * A pool of no workers: the caller runs every job.
   *
   * @param runner What a job means.
   */
  constructor(runner: JobRunner) {
    this.#runner = runner;
  }

  run(op: number, a = 0, b = 0, c = 0): Promise<void> {
    this.#runner(op, a, b, c, 0, 1);
    return Promise.resolve();
  }

  close(): void {}

  /** Nothing to release. */
  [Symbol.dispose](): void {}
}

// Control block: Int32 words, then the first failure's message as UTF-8.
const SEQ = 0; // bumped by the caller for every job
const PENDING = 1; // workers still running the current job
const OP = 2;
const ARG_A = 3;
const ARG_B = 4;
const ARG_C = 5;
const FAILED = 6; // 1 when a worker's job threw; the message follows
const MESSAGE_LENGTH = 7; // bytes of the message
const CONTROL_WORDS = 16;
const MESSAGE_BYTES = 1024;
const STOP = -1;
/** How long {@linkcode WorkerPool.close} waits for a job in flight to finish. */
const CLOSE_TIMEOUT_MS = 30_000;

/** What `worker.ts` receives once, at startup. */
export interface WorkerStart {
  /** The pool's control block. */
  readonly control: SharedArrayBuffer;
  /** This worker's index. */
  readonly worker: number;
  /** Number of workers. */
  readonly workers: number;
  /** Passed to the job runner factory (structured-clonable). */
  readonly init: unknown;
}

/** What a worker answers to {@linkcode WorkerStart}. */
export type WorkerReady = { readonly ok: true } | { readonly ok: false; readonly message: string };

/**
 * The worker side of the protocol: waits for jobs and runs them until the pool stops.
 * Called by `worker.ts` after it has built its runner and answered "ready".
 *
 * @param start The startup message.
 * @param runner Runs this worker's share of a job.
 */
export function serveJobs(start: WorkerStart, runner: JobRunner): void {
  const control = new Int32Array(start.control, 0, CONTROL_WORDS);
  let seen = 0; // the pool dispatches nothing before every worker is ready
  for (;;) {
    Atomics.wait(control, SEQ, seen);
    const seq = Atomics.load(control, SEQ);
    if (seq === seen) continue;
    seen = seq;
    const op = control[OP];
    if (op === STOP) return;
    try {
      runner(op, control[ARG_A], control[ARG_B], control[ARG_C], start.worker, start.workers);
    } catch (error) {
      recordFailure(start.control, error);
    }
    if (Atomics.sub(control, PENDING, 1) === 1) Atomics.notify(control, PENDING);
  }
}

/** Keeps the first failure's message in the control block. */
function recordFailure(buffer: SharedArrayBuffer, error: unknown): void {
  const control = new Int32Array(buffer, 0, CONTROL_WORDS);
  if (Atomics.compareExchange(control, FAILED, 0, 1) !== 0) return;
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const bytes = new TextEncoder().encode(text).subarray(0, MESSAGE_BYTES);
  new Uint8Array(buffer, CONTROL_WORDS * 4, MESSAGE_BYTES).set(bytes);
  control[MESSAGE_LENGTH] = bytes.length;
}

/** Web Workers (`worker.ts`) that run jobs in parallel with one another. */
export class WorkerPool implements Pool {
  readonly workers: number;
  #threads: Worker[];
  #buffer: SharedArrayBuffer;
  #control: Int32Array;
  #crash: string | null = null;
  #closed = false;

  private constructor(threads: Worker[], buffer: SharedArrayBuffer) {
    this.workers = threads.length;
    this.#threads = threads;
    this.#buffer = buffer;
    this.#control = new Int32Array(buffer, 0, CONTROL_WORDS);
    for (const thread of threads) {
      thread.onerror = (event) => {
        event.preventDefault();
        this.#crashed(event.message);
      };
    }
  }

  /**
   * Starts `count` workers and waits until each has built its views from `init`.
   *
   * @param count Number of workers (≥ 1).
   * @param init Passed to each worker's runner factory; must be structured-clonable.
   * @returns The running pool.
   * @throws {Error} When a worker fails to start; the others are stopped.
   */
  static async start(count: number, init: unknown): Promise<WorkerPool> {
    const buffer = new SharedArrayBuffer(CONTROL_WORDS * 4 + MESSAGE_BYTES);
    const threads: Worker[] = [];
    try {
      const ready: Promise<void>[] = [];
      for (let worker = 0; worker < count; worker++) {
        const thread = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
        threads.push(thread);
        ready.push(
          new Promise<void>((resolve, reject) => {
            thread.onmessage = (event: MessageEvent<WorkerReady>) => {
              if (event.data.ok) resolve();
              else reject(new Error(`worker ${worker} failed to start: ${event.data.message}`));
            };
            thread.onerror = (event) => {
              event.preventDefault();
              reject(new Error(`worker ${worker} failed to start: ${event.message}`));
            };
          }),
        );
        const start: WorkerStart = { control: buffer, worker, workers: count, init };
        thread.postMessage(start);
      }
      await Promise.all(ready);
    } catch (error) {
      for (const thread of threads) thread.terminate();
      throw error;
    }
    for (const thread of threads) thread.onmessage = null;
    return new WorkerPool(threads, buffer);
  }

  async run(op: number, a = 0, b = 0, c = 0): Promise<void> {
    if (this.#closed) throw new Error("expected an open worker pool, it was closed");
    if (this.#crash !== null) throw new Error(`a worker crashed: ${this.#crash}`);
    const control = this.#control;
    control[OP] = op;
    control[ARG_A] = a;
    control[ARG_B] = b;
    control[ARG_C] = c;
    Atomics.store(control, PENDING, this.workers);
    Atomics.add(control, SEQ, 1);
    Atomics.notify(control, SEQ);
    for (;;) {
      const pending = Atomics.load(control, PENDING);
      if (pending === 0) break;
      const wait = Atomics.waitAsync(control, PENDING, pending);
      if (wait.async) await wait.value;
    }
    if (this.#closed) throw new Error("the worker pool was closed while a job was running");
    if (this.#crash !== null) throw new Error(`a worker crashed: ${this.#crash}`);
    if (Atomics.load(control, FAILED) !== 0) {
      const bytes = new Uint8Array(this.#buffer, CONTROL_WORDS * 4, control[MESSAGE_LENGTH]);
      const message = new TextDecoder().decode(bytes.slice());
      Atomics.store(control, FAILED, 0);
      throw new Error(`a worker's job failed: ${message}`);
    }
  }

  /** A worker died outside a job: wake the caller, and refuse further jobs. */
  #crashed(message: string): void {
    this.#crash = message;
    Atomics.store(this.#control, PENDING, 0);
    Atomics.notify(this.#control, PENDING);
  }

  /**
   * Stops the workers. A job in flight is allowed to finish first (blocking, up to
   * {@linkcode CLOSE_TIMEOUT_MS}): its workers read the mapped weights, so the caller may unmap
   * them only once no worker is inside a job.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const control = this.#control;
    control[OP] = STOP;
    Atomics.add(control, SEQ, 1);
    Atomics.notify(control, SEQ);
    const deadline = performance.now() + CLOSE_TIMEOUT_MS;
    for (;;) {
      const pending = Atomics.load(control, PENDING);
      const left = deadline - performance.now();
      if (pending === 0 || left <= 0 || this.#crash !== null) break;
      Atomics.wait(control, PENDING, pending, left);
    }
    for (const thread of this.#threads) thread.terminate();
    // Wake a caller still waiting for a job, so that it fails instead of waiting forever.
    Atomics.store(control, PENDING, 0);
    Atomics.notify(control, PENDING);
  }

  /** Same as {@linkcode WorkerPool.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
