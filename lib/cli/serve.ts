/**
 * `llama serve`: the OpenAI-compatible HTTP server (`lib/server/`). It listens first (so
 * `/health` can say "loading"), then loads the model with one KV cache per `--parallel`
 * session, and runs until Ctrl+C or SIGTERM: then it stops taking requests, finishes the ones
 * in flight (`--on-stop finish`, the default; a second signal aborts them) or aborts them
 * (`--on-stop abort`), and exits 0.
 *
 * @module
 */

import { basename } from "node:path";
import { UsageError } from "../errors.ts";
import { Engine } from "../server/engine.ts";
import { LlamaServer, type StopMode } from "../server/server.ts";
import { LoadedModel } from "./loaded_model.ts";
import { modelDir } from "./model_files.ts";
import { numberFlag, parseCommandArgs } from "./options.ts";
import { kernelsFlag } from "./run_options.ts";
import { writeErr } from "./terminal.ts";

/** Default `--port`. */
export const DEFAULT_PORT = 8080;
/** Default `--queue`: requests that may wait while one runs. */
export const DEFAULT_QUEUE = 8;
/** Default `--parallel`: conversations whose KV caches are kept. */
export const DEFAULT_PARALLEL = 2;

/**
 * Runs `serve` with the arguments after the command name.
 *
 * @param args command-line arguments
 * @returns the exit code (0 after a graceful stop)
 */
export async function runServe(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("serve", args, {
    model: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    "api-key": { type: "string" },
    context: { type: "string" },
    threads: { type: "string" },
    parallel: { type: "string" },
    queue: { type: "string" },
    kernels: { type: "string" },
    "on-stop": { type: "string" },
  });
  if (positionals.length > 0) {
    throw new UsageError(
      `serve: unexpected argument '${positionals[0]}' (see 'llama serve --help')`,
    );
  }
  const hostname = typeof values.host === "string" ? values.host : "127.0.0.1";
  const port = numberFlag("port", values.port, { min: 0, max: 65535, integer: true }) ??
    DEFAULT_PORT;
  const onStop = values["on-stop"] ?? "finish";
  if (onStop !== "finish" && onStop !== "abort") {
    throw new UsageError(`--on-stop: expected finish or abort, found '${onStop}'`);
  }
  const apiKey = typeof values["api-key"] === "string" ? values["api-key"] : undefined;
  if (apiKey === "") throw new UsageError("--api-key: expected a non-empty key");
  const load = {
    context: numberFlag("context", values.context, { min: 16, max: 131072, integer: true }),
    threads: numberFlag("threads", values.threads, { min: 1, max: 256, integer: true }),
    kernels: kernelsFlag(values.kernels),
    kvCaches: numberFlag("parallel", values.parallel, { min: 1, max: 64, integer: true }) ??
      DEFAULT_PARALLEL,
  };
  const maxWaiting = numberFlag("queue", values.queue, { min: 0, max: 4096, integer: true }) ??
    DEFAULT_QUEUE;

  // Find the model before taking the port, so a wrong --model fails at once.
  const dir = modelDir(typeof values.model === "string" ? values.model : undefined);
  const server = await listen(hostname, port, apiKey);
  writeErr(`listening on http://${hostname}:${server.port}/ (OpenAI API at ${server.baseUrl})\n`);
  let signals = 0;
  const stop = () => {
    signals++;
    const mode: StopMode = signals > 1 ? "abort" : onStop;
    writeErr(
      mode === "abort"
        ? "stopping: aborting the requests in flight\n"
        : "stopping: finishing the requests in flight (a second Ctrl+C aborts them)\n",
    );
    server.stop(mode);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    using model = await LoadedModel.load(dir, load);
    server.ready(
      new Engine({
        name: basename(model.dir.replace(/[\\/]+$/, "")),
        tokenizer: model.tokenizer,
        transformer: model.transformer,
        stopTokens: model.stopTokens,
      }, { maxWaiting }),
    );
    writeErr(`ready: ${load.kvCaches} cached session(s), up to ${maxWaiting} waiting\n`);
    await server.finished;
  } catch (error) {
    await server.stop("abort");
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  writeErr("stopped\n");
  return 0;
}

async function listen(hostname: string, port: number, apiKey?: string): Promise<LlamaServer> {
  try {
    return await LlamaServer.start({ hostname, port, apiKey });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new UsageError(
        `serve: no permission to listen on ${hostname}:${port} ('deno task serve' allows only ` +
          `127.0.0.1)`,
        {
          fix:
            `run deno run --allow-read --allow-ffi --allow-env --allow-net=${hostname}:${port} ` +
            `main.ts serve --host ${hostname} --port ${port} ...`,
        },
      );
    }
    if (error instanceof Deno.errors.AddrInUse) {
      throw new UsageError(`serve: ${hostname}:${port} is already in use`, {
        fix: "stop the other server, or pass another --port",
      });
    }
    throw error;
  }
}
