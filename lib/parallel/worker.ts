/**
 * A pool worker: builds its views of the model from the startup message, says "ready", then
 * runs its share of each job until the pool stops. Thin on purpose: the protocol lives in
 * `pool.ts`, the jobs in `../model/jobs.ts`.
 *
 * Spawned by `WorkerPool.start` as `new Worker(new URL("./worker.ts", import.meta.url))`;
 * `deno compile` must be given `--include lib/parallel/worker.ts`.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import { openJobs } from "../model/jobs.ts";
import type { ModelInit } from "../model/jobs.ts";
import { serveJobs, type WorkerReady, type WorkerStart } from "./pool.ts";

self.onmessage = (event: MessageEvent<WorkerStart>) => {
  self.onmessage = null;
  const start = event.data;
  let runner;
  try {
    runner = openJobs(start.init as ModelInit);
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
