/**
 * A pool worker of `convert`: encodes its share of each chunk's rows (`convert_rows.ts`) over
 * the shared weights and output buffer of the startup message, until the pool stops.
 *
 * Spawned by `RowConverter.start` with `workerUrl: CONVERT_WORKER_URL`;
 * `deno compile` must be given `--include lib/model/convert_worker.ts`.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import { servePoolWorker } from "../parallel/pool.ts";
import { type ConvertInit, convertRunner } from "./convert_rows.ts";

servePoolWorker((init) => convertRunner(init as ConvertInit));
