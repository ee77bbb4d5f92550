/**
 * The model runs one request at a time; the others wait here, first come first served, in a
 * queue of bounded length. A request past the bound is refused at once (503 with
 * `Retry-After`) instead of waiting without end; a waiting request whose client disconnects
 * leaves the queue and frees its place.
 *
 * @example
 * ```ts
 * import { RequestQueue } from "./request_queue.ts";
 *
 * const queue = new RequestQueue(8);
 * using _turn = await queue.acquire(AbortSignal.timeout(60_000));
 * // ... run the model; the next request starts when the turn is disposed
 * ```
 *
 * @module
 */

import { ApiError } from "./api_error.ts";

/** Seconds a refused client is told to wait before it retries. */
export const RETRY_AFTER_SECONDS = 1;

interface Waiter {
  grant: () => void;
}

/** One-at-a-time access to the model with a bounded waiting line. */
export class RequestQueue {
  /** Most requests that may wait while one runs. */
  readonly maxWaiting: number;
  #running = false;
  #waiting: Waiter[] = [];
  #closed = false;

  /**
   * @param maxWaiting Most requests waiting at once (0 = refuse whenever one runs).
   */
  constructor(maxWaiting: number) {
    this.maxWaiting = maxWaiting;
  }

  /** Requests waiting for their turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Whether a request holds the model. */
  get running(): boolean {
    return this.#running;
  }

  /**
   * Waits for the model.
   *
   * @param signal Aborting it while waiting leaves the queue (the promise rejects with its reason).
   * @returns The turn: dispose it (or call `release`) when done with the model.
   * @throws {ApiError} 503 with `Retry-After` when the queue is full or the server is stopping.
   */
  acquire(signal?: AbortSignal): Promise<Disposable & { release(): void }> {
    if (this.#closed) {
      return Promise.reject(
        new ApiError(503, "the server is shutting down", {
          type: "server_error",
          code: "server_shutting_down",
        }),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.#running) {
      this.#running = true;
      return Promise.resolve(this.#turn());
    }
    if (this.#waiting.length >= this.maxWaiting) {
      return Promise.reject(
        new ApiError(
          503,
          `the server is busy: one request is running and ${this.#waiting.length} are waiting ` +
            `(the most it queues); retry in ${RETRY_AFTER_SECONDS} s`,
          {
            type: "server_error",
            code: "server_busy",
            headers: { "retry-after": String(RETRY_AFTER_SECONDS) },
          },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.#turn());
        },
      };
      const onAbort = () => {
        const at = this.#waiting.indexOf(waiter);
        if (at !== -1) this.#waiting.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Refuses new requests from now on; those already waiting still get their turn. */
  close(): void {
    this.#closed = true;
  }

  #turn(): Disposable & { release(): void } {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next.grant(); // the model passes straight to the next request
      else this.#running = false;
    };
    return { release, [Symbol.dispose]: release };
  }
}
