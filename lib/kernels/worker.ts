/**
 * A pool worker that runs kernel steps: builds its backend over the shared memories from the
 * startup message, says "ready", then runs its share of each job until the pool stops. Thin
 * on purpose: the protocol lives in `../parallel/pool.ts`, the steps in `steps.ts`.
 *
 * Spawned by `Pool.start` with `workerUrl: STEP_WORKER_URL` (`steps.ts`);
 * `deno compile` must be given `--include lib/kernels/worker.ts`.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import { serveJobs, type WorkerReady, type WorkerStart } from "../parallel/pool.ts";
import { stepRunner, type StepsInit } from "./steps.ts";

self.onmessage = (event: MessageEvent<WorkerStart>) => {
  self.onmessage = null;
  const start = event.data;
  let runner;
  try {
    runner = stepRunner(start.init as StepsInit, start.share);
  } catch (error) {
    const reply: WorkerReady = { ok: false, message: String(error) };
    self.postMessage(reply);
    return;
  }
  const reply: WorkerReady = { ok: true };
  self.postMessage(reply);
  serveJobs(start, runner);
  self.close();
};
