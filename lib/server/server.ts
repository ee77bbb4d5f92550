/**
 * The HTTP server: `Deno.serve` in front of the {@linkcode findRoute} table. It listens before
 * the model is loaded (`/health` answers 503 until {@linkcode LlamaServer.ready}), checks the
 * API key, reads JSON bodies up to a limit, turns every failure into an OpenAI-shaped error
 * (never a crash, never a stack trace), writes one log line per request, and stops
 * gracefully: no new requests, the ones in flight finished or aborted.
 *
 * @example
 * ```ts
 * import { LlamaServer } from "./server.ts";
 * import type { Engine } from "./engine.ts";
 *
 * declare const engine: Engine;
 * const server = await LlamaServer.start({ hostname: "127.0.0.1", port: 8080 });
 * server.ready(engine);
 * Deno.addSignalListener("SIGTERM", () => server.stop("finish"));
 * await server.finished;
 * ```
 *
 * @module
 */

import { parseJsonWithLimits } from "../formats/json_limits.ts";
import { LlamaError } from "../errors.ts";
import { ApiError, errorResponse } from "./api_error.ts";
import { ApiKey } from "./api_key.ts";
import type { Engine } from "./engine.ts";
import { findRoute, loadPageFiles, type PageFiles, type RouteContext } from "./routes.ts";

/** Default most bytes of a request body. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Options of {@linkcode LlamaServer.start}. */
export interface ServerOptions {
  /** Address to listen on (`"127.0.0.1"`). */
  readonly hostname: string;
  /** Port (0 = any free one; see {@linkcode LlamaServer.port}). */
  readonly port: number;
  /** Require `Authorization: Bearer KEY`. */
  readonly apiKey?: string;
  /** Larger bodies get 413. Default {@linkcode DEFAULT_MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
  /** Receives one line per request, and the server's own news. Default: stderr. */
  readonly log?: (line: string) => void;
}

/** How {@linkcode LlamaServer.stop} treats requests in flight. */
export type StopMode = "finish" | "abort";

/** A listening server. */
export class LlamaServer {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on. */
  readonly port: number;
  /** Settles when the server has stopped (after {@linkcode LlamaServer.stop}). */
  readonly finished: Promise<void>;

  #server: Deno.HttpServer<Deno.NetAddr>;
  #engine: Engine | null = null;
  #loadedAt = 0;
  #apiKey: ApiKey | null;
  #maxBody: number;
  #log: (line: string) => void;
  #page: PageFiles;
  #abortAll = new AbortController();
  #stopping = false;

  private constructor(
    options: ServerOptions,
    apiKey: ApiKey | null,
    page: PageFiles,
  ) {
    this.#apiKey = apiKey;
    this.#page = page;
    this.#maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#log = options.log ?? ((line) => console.error(line));
    this.#server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: () => {},
      onError: (error) => errorResponse(asApiError(error)),
    }, (request) => this.#handle(request));
    this.hostname = this.#server.addr.hostname;
    this.port = this.#server.addr.port;
    this.finished = this.#server.finished;
  }

  /**
   * Starts listening; the model endpoints answer 503 until {@linkcode LlamaServer.ready}.
   *
   * @param options Address, API key, body limit, log.
   * @returns The server.
   * @throws {Deno.errors.NotCapable} Without net permission for the address.
   */
  static async start(options: ServerOptions): Promise<LlamaServer> {
    const apiKey = options.apiKey === undefined ? null : await ApiKey.create(options.apiKey);
    return new LlamaServer(options, apiKey, await loadPageFiles());
  }

  /** The base URL of the OpenAI API (`http://host:port/v1`). */
  get baseUrl(): string {
    const host = this.hostname.includes(":") ? `[${this.hostname}]` : this.hostname;
    return `http://${host}:${this.port}/v1`;
  }

  /**
   * The model is loaded: serve it.
   *
   * @param engine The model with its queue and prompt cache.
   */
  ready(engine: Engine): void {
    this.#engine = engine;
    this.#loadedAt = Math.floor(Date.now() / 1000);
  }

  /**
   * Stops accepting requests; waits for those in flight to finish (`"finish"`) or aborts them
   * (`"abort"`). Calling it again with `"abort"` aborts what is still running.
   *
   * @param mode Finish or abort the requests in flight.
   * @returns Settles when the server has stopped.
   */
  stop(mode: StopMode): Promise<void> {
    if (mode === "abort") this.#abortAll.abort(new DOMException("server stopping", "AbortError"));
    if (!this.#stopping) {
      this.#stopping = true;
      this.#engine?.queue.close();
      this.#server.shutdown();
    }
    return this.finished;
  }

  async #handle(request: Request): Promise<Response> {
    const started = performance.now();
    const path = new URL(request.url).pathname;
    let context: RouteContext | undefined;
    let response: Response;
    let routePath = "other";
    let problem = "";
    try {
      if (this.#stopping) {
        throw new ApiError(503, "the server is shutting down", {
          type: "server_error",
          code: "server_shutting_down",
        });
      }
      const route = findRoute(request.method, path);
      routePath = route.path;
      if (route.authorized && this.#apiKey && !(await this.#apiKey.accepts(request.headers))) {
        throw new ApiError(
          401,
          "expected the header 'Authorization: Bearer KEY' with the server's --api-key",
          { code: "invalid_api_key" },
        );
      }
      context = {
        engine: this.#engine,
        body: route.json ? await readJson(request, this.#maxBody) : undefined,
        signal: AbortSignal.any([request.signal, this.#abortAll.signal]),
        loadedAt: this.#loadedAt,
        page: this.#page,
      };
      response = await route.handle(context);
    } catch (error) {
      const apiError = asApiError(error);
      if (apiError.status >= 500 && !(error instanceof ApiError)) problem = apiError.message;
      response = errorResponse(apiError);
    }
    const status = response.status;
    const log = () => {
      this.#engine?.metrics.countRequest(routePath, status);
      const u = context?.usage;
      const tokens = u
        ? ` prompt ${u.promptTokens} (cached ${u.cachedTokens}) completion ${u.completionTokens}`
        : "";
      const ms = (performance.now() - started).toFixed(0);
      this.#log(`${request.method} ${path} ${status}${tokens} ${ms} ms${problem && ` ${problem}`}`);
    };
    if (context?.finished) context.finished.finally(log);
    else log();
    return response;
  }
}

/** Reads a JSON body of at most `limit` bytes. */
async function readJson(request: Request, limit: number): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw tooLarge(declared, limit);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    for await (const chunk of request.body) {
      size += chunk.length;
      if (size > limit) throw tooLarge(size, limit);
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  const text = new TextDecoder().decode(bytes);
  // Nesting is bounded like every other untrusted JSON (LIMITS.jsonDepth), and V8's message
  // is escaped before it is echoed back.
  const result = parseJsonWithLimits(text);
  if ("error" in result) {
    const reason = result.syntax ?? result.error;
    throw new ApiError(400, `expected a JSON request body, found invalid JSON (${reason})`, {
      code: "invalid_json",
    });
  }
  return result.value;
}

function tooLarge(size: number, limit: number): ApiError {
  return new ApiError(
    413,
    `expected a request body of at most ${limit} bytes, found ${
      Number.isFinite(size) ? size : "more"
    }`,
    { code: "request_too_large" },
  );
}

/** Any failure as an OpenAI error: ours as they are, the engine's as 400, the rest as 500. */
function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof DOMException && error.name === "AbortError") {
    return new ApiError(503, "the request was aborted", { type: "server_error", code: "aborted" });
  }
  if (error instanceof LlamaError) return new ApiError(400, error.message.split("\n")[0]);
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(500, `internal error: ${message.split("\n")[0]}`, { type: "server_error" });
}
