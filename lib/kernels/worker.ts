/**
 * A pool worker that runs kernel steps: builds its backend over the shared memories from the
 * startup message, then runs its share of each job until the pool stops. Thin on purpose: the
 * protocol lives in `../parallel/pool.ts`, the steps in `steps.ts`.
 *
 * Spawned by `Pool.start` with `workerUrl: STEP_WORKER_URL` (`steps.ts`);
 * `deno compile` must be given `--include lib/kernels/worker.ts`.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import { servePoolWorker } from "../parallel/pool.ts";
import { stepRunner, type StepsInit } from "./steps.ts";

servePoolWorker((init, share) => stepRunner(init as StepsInit, share));
