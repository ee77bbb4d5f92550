/**
 * A pool of threads that split each heavy operation of the forward pass between them: the
 * calling thread and `threads − 1` Web Workers.
 *
 * The threads share memory (the weights and state WebAssembly memories), so a job is just a
 * few numbers: the caller writes them to a small shared control block, bumps a sequence number
 * and wakes the workers with `Atomics.notify`, runs its own share (share 0) at once, then waits
 * for the workers' shares with `Atomics.waitAsync`; each worker runs its share, decrements a
 * pending count, and the last one wakes the caller. `postMessage` is used only to start the
 * workers and to report a crash. The caller computing too means one thread fewer to wake per
 * job, and no core idles while the others work.
 *
 * What a job means is not this module's business: the pool carries a job as an array of
 * float64 words, and every thread runs the {@linkcode JobRunner} built from the init message
 * (workers load it from the module at `workerUrl`, which calls {@linkcode serveJobs}). A runner
 * must compute the same result for every element whatever share it is given, so results never
 * depend on the number of threads.
 *
 * @example
 * ```ts
 * import { Pool, shareStart } from "./pool.ts";
 *
 * const out = new Float32Array(10);
 * using pool = await Pool.start({
 *   threads: 1,
 *   runner: (words, _n, share, shares) => {
 *     const start = shareStart(out.length, share, shares);
 *     const end = shareStart(out.length, share + 1, shares);
 *     for (let i = start; i < end; i++) out[i] = words[0];
 *   },
 * });
 * await pool.run([42]); // every element is 42
 * ```
 *
 * @module
 */

/**
 * Runs one thread's share of a job.
 *
 * @param words The job (the first `length` words are meaningful).
 * @param length Number of words.
 * @param share This thread's share, `0 <= share < shares`.
 * @param shares How many threads share the job.
 * @param claim Returns the job's next unclaimed item index (0, 1, 2, … across all threads):
 *   threads that take work item by item with it balance themselves, however the machine
 *   schedules them.
 */
export type JobRunner = (
  words: Float64Array,
  length: number,
  share: number,
  shares: number,
  claim: () => number,
) => void;

/**
 * The first index of share `share` of `total` items split into `shares` contiguous ranges;
 * the share ends where share `share + 1` starts.
 *
 * @param total Number of items.
 * @param share Share index (`shares` gives `total`).
 * @param shares Number of shares.
 * @returns The first item of the share.
 */
export function shareStart(total: number, share: number, shares: number): number {
  return Math.floor((total * share) / shares);
}

// Control block: Int32 words, the first failure's message, then the job's float64 words.
const SEQ = 0; // bumped by the caller for every job
const PENDING = 1; // workers still running the current job
const STOP = 2; // 1 once the pool is closing
const FAILED = 3; // 1 when a worker's job threw; the message follows
const MESSAGE_LENGTH = 4;
const JOB_LENGTH = 5; // words of the current job
const CLAIMED = 6; // items of the current job claimed so far (see JobRunner's claim)
const CONTROL_WORDS = 16;
const MESSAGE_BYTES = 1024;
const JOB_OFFSET = CONTROL_WORDS * 4 + MESSAGE_BYTES; // a multiple of 8
/** Most float64 words one job carries. */
export const MAX_JOB_WORDS = 1024;
/** How long {@linkcode Pool.close} lets a job in flight finish before stopping its workers. */
const CLOSE_WAIT_MS = 500;
/**
 * How long a thread that is waiting for the other side keeps checking the control block before
 * it sleeps. A decode step runs ~80 jobs of a few milliseconds each, with microseconds between
 * them: a worker asleep in `Atomics.wait` takes ~30 µs to wake, and a caller resumed by
 * `Atomics.waitAsync` ~50 µs more (measured on the 2-core machines), so short waits are spent
 * checking instead. Longer waits still sleep, so an idle pool uses no CPU.
 */
const SPIN_MS = 0.25;

/** What a worker receives once, at startup. */
export interface WorkerStart {
  /** The pool's control block. */
  readonly control: SharedArrayBuffer;
  /** This worker's share index (1 and up: the caller has share 0). */
  readonly share: number;
  /** Threads sharing each job. */
  readonly shares: number;
  /** Passed to the worker's runner factory (structured-clonable). */
  readonly init: unknown;
}

/** What a worker answers to {@linkcode WorkerStart}. */
export type WorkerReady = { readonly ok: true } | { readonly ok: false; readonly message: string };

/**
 * The whole body of a pool's worker module: on the startup message, builds the runner from its
 * `init` (a failure is answered to {@linkcode Pool.start}, which rejects), answers "ready",
 * serves jobs until the pool stops ({@linkcode serveJobs}), then closes the worker.
 *
 * @param build Makes this worker's runner from the pool's `init` and the worker's share.
 */
export function servePoolWorker(build: (init: unknown, share: number) => JobRunner): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<WorkerStart>) => void) | null;
    postMessage(message: WorkerReady): void;
    close(): void;
  };
  scope.onmessage = (event) => {
    scope.onmessage = null;
    const start = event.data;
    let runner;
    try {
      runner = build(start.init, start.share);
    } catch (error) {
      scope.postMessage({ ok: false, message: String(error) });
      return;
    }
    scope.postMessage({ ok: true });
    serveJobs(start, runner);
    scope.close();
  };
}

/**
 * The worker side of the protocol: waits for jobs and runs its share until the pool stops.
 * Called by the worker module after it has built its runner and answered "ready".
 *
 * @param start The startup message.
 * @param runner Runs this worker's share of a job.
 */
export function serveJobs(start: WorkerStart, runner: JobRunner): void {
  const control = new Int32Array(start.control, 0, CONTROL_WORDS);
  const words = new Float64Array(start.control, JOB_OFFSET, MAX_JOB_WORDS);
  let seen = 0; // the pool dispatches nothing before every worker is ready
  const claim = () => Atomics.add(control, CLAIMED, 1);
  for (;;) {
    const deadline = performance.now() + SPIN_MS;
    while (Atomics.load(control, SEQ) === seen && performance.now() < deadline);
    Atomics.wait(control, SEQ, seen);
    if (Atomics.load(control, STOP) !== 0) return;
    const seq = Atomics.load(control, SEQ);
    if (seq === seen) continue;
    seen = seq;
    try {
      runner(words, control[JOB_LENGTH], start.share, start.shares, claim);
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

/** Options of {@linkcode Pool.start}. */
export interface PoolOptions {
  /** Threads sharing each job, the caller included (≥ 1; 1 runs everything on the caller). */
  readonly threads: number;
  /** The caller's runner (share 0). */
  readonly runner: JobRunner;
  /** The worker module: it calls {@linkcode serveJobs} with its own runner built from `init`. */
  readonly workerUrl?: URL;
  /** Posted to each worker (structured-clonable: shared memories, numbers). */
  readonly init?: unknown;
}

/** The caller plus Web Workers, running jobs together. */
export class Pool implements Disposable {
  /** Threads sharing each job, the caller included. */
  readonly threads: number;
  #runner: JobRunner;
  #claim: () => number;
  #workers: Worker[];
  #buffer: SharedArrayBuffer;
  #control: Int32Array;
  #words: Float64Array;
  #crash: string | null = null;
  #closed = false;
  #running = false;

  private constructor(runner: JobRunner, workers: Worker[], buffer: SharedArrayBuffer) {
    this.threads = workers.length + 1;
    this.#runner = runner;
    this.#workers = workers;
    this.#buffer = buffer;
    this.#control = new Int32Array(buffer, 0, CONTROL_WORDS);
    const control = this.#control;
    this.#claim = () => Atomics.add(control, CLAIMED, 1);
    this.#words = new Float64Array(buffer, JOB_OFFSET, MAX_JOB_WORDS);
    for (const worker of workers) {
      worker.onerror = (event) => {
        event.preventDefault();
        this.#crashed(event.message);
      };
    }
  }

  /**
   * Starts `threads − 1` workers and waits until each has built its runner.
   *
   * @param options Thread count, runners, init message.
   * @returns The running pool.
   * @throws {Error} When a worker fails to start; the others are stopped.
   */
  static async start(options: PoolOptions): Promise<Pool> {
    const threads = Math.max(1, Math.floor(options.threads));
    const buffer = new SharedArrayBuffer(JOB_OFFSET + MAX_JOB_WORDS * 8);
    const workers: Worker[] = [];
    if (threads > 1 && options.workerUrl === undefined) {
      throw new Error("a pool of more than one thread needs a worker module (workerUrl)");
    }
    try {
      const ready: Promise<void>[] = [];
      for (let share = 1; share < threads; share++) {
        const worker = new Worker(options.workerUrl!, { type: "module" });
        workers.push(worker);
        ready.push(
          new Promise<void>((resolve, reject) => {
            worker.onmessage = (event: MessageEvent<WorkerReady>) => {
              if (event.data.ok) resolve();
              else reject(new Error(`worker ${share} failed to start: ${event.data.message}`));
            };
            worker.onerror = (event) => {
              event.preventDefault();
              reject(new Error(`worker ${share} failed to start: ${event.message}`));
            };
          }),
        );
        const start: WorkerStart = { control: buffer, share, shares: threads, init: options.init };
        worker.postMessage(start);
      }
      await Promise.all(ready);
    } catch (error) {
      for (const worker of workers) worker.terminate();
      throw error;
    }
    for (const worker of workers) worker.onmessage = null;
    return new Pool(options.runner, workers, buffer);
  }

  /**
   * Runs one job on every thread and resolves when all are done; rejects if one failed.
   *
   * @param job The job's words (at most {@linkcode MAX_JOB_WORDS}).
   */
  async run(job: ArrayLike<number>): Promise<void> {
    if (this.#closed) throw new Error("expected an open worker pool, it was closed");
    if (this.#crash !== null) throw new Error(`a worker crashed: ${this.#crash}`);
    if (this.#running) throw new Error("expected one job at a time, one is still running");
    if (job.length > MAX_JOB_WORDS) {
      throw new RangeError(`a job of ${job.length} words is too long`);
    }
    this.#running = true;
    const control = this.#control;
    try {
      this.#words.set(job);
      control[JOB_LENGTH] = job.length;
      Atomics.store(control, CLAIMED, 0);
      let failure: unknown = null;
      if (this.#workers.length > 0) {
        Atomics.store(control, PENDING, this.#workers.length);
        Atomics.add(control, SEQ, 1);
        Atomics.notify(control, SEQ);
      }
      try {
        this.#runner(this.#words, job.length, 0, this.threads, this.#claim);
      } catch (error) {
        failure = error; // still wait: the workers read the same memory
      }
      const deadline = performance.now() + SPIN_MS;
      while (Atomics.load(control, PENDING) !== 0 && performance.now() < deadline);
      for (;;) {
        const pending = Atomics.load(control, PENDING);
        if (pending === 0) break;
        const wait = Atomics.waitAsync(control, PENDING, pending);
        if (wait.async) await wait.value;
      }
      if (this.#closed) throw new Error("the worker pool was closed while a job was running");
      if (this.#crash !== null) throw new Error(`a worker crashed: ${this.#crash}`);
      let workerFailure: string | null = null;
      if (Atomics.load(control, FAILED) !== 0) {
        const bytes = new Uint8Array(this.#buffer, CONTROL_WORDS * 4, control[MESSAGE_LENGTH]);
        workerFailure = new TextDecoder().decode(bytes.slice());
        Atomics.store(control, FAILED, 0);
      }
      if (failure !== null) throw failure;
      if (workerFailure !== null) throw new Error(`a worker's job failed: ${workerFailure}`);
    } finally {
      this.#running = false;
    }
  }

  /** A worker died outside a job: wake the caller, and refuse further jobs. */
  #crashed(message: string): void {
    this.#crash = message;
    Atomics.store(this.#control, PENDING, 0);
    Atomics.notify(this.#control, PENDING);
  }

  /**
   * Stops the workers, within about half a second in every case: a job in flight may finish
   * first (its workers read memory the caller may release next), then every worker is
   * terminated and a caller still waiting for that job is woken with an error. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const control = this.#control;
    Atomics.store(control, STOP, 1);
    Atomics.add(control, SEQ, 1);
    Atomics.notify(control, SEQ);
    const deadline = performance.now() + CLOSE_WAIT_MS;
    for (;;) {
      const pending = Atomics.load(control, PENDING);
      const left = deadline - performance.now();
      if (pending === 0 || left <= 0 || this.#crash !== null) break;
      Atomics.wait(control, PENDING, pending, left);
    }
    for (const worker of this.#workers) worker.terminate();
    Atomics.store(control, PENDING, 0);
    Atomics.notify(control, PENDING);
  }

  /** Same as {@linkcode Pool.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
