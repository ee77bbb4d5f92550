/**
 * The routes of the server and what each answers: the OpenAI endpoints
 * (`/v1/chat/completions`, `/v1/completions`, `/v1/models`), `/health`, `/metrics` and the
 * chat page (`/`, with its script and style sheet).
 *
 * {@linkcode findRoute} maps a method and path to a {@linkcode Route}, or to the 404 / 405
 * error OpenAI clients expect. Handlers get the parsed JSON body and a {@linkcode RouteContext};
 * a streamed answer returns its `Response` once its turn comes and reports in
 * `context.finished` when the stream ends (for the request's log line).
 *
 * @example
 * ```ts
 * import { findRoute } from "./routes.ts";
 *
 * const route = findRoute("POST", "/v1/chat/completions");
 * console.log(route.path, route.json); // "/v1/chat/completions" true
 * ```
 *
 * @module
 */

import { ApiError } from "./api_error.ts";
import type { Engine, EngineResult } from "./engine.ts";
import { parseChatRequest, parseCompletionRequest } from "./openai_request.ts";
import {
  type AnswerIdentity,
  chatChunk,
  chatCompletion,
  completionId,
  modelList,
  textCompletion,
  usageChunk,
} from "./openai_response.ts";
import { EventStream } from "./sse.ts";

/** What a handler gets besides the request. */
export interface RouteContext {
  /** The model, or null while it is loading. */
  readonly engine: Engine | null;
  /** The parsed JSON body (routes with `json: true`). */
  readonly body: unknown;
  /** Fires when the client goes away or the server aborts requests in flight. */
  readonly signal: AbortSignal;
  /** Unix seconds when the model was loaded. */
  readonly loadedAt: number;
  /** The chat page's files by path. */
  readonly page: PageFiles;
  /** Set by a handler: the token counts for the log line. */
  usage?: EngineResult["usage"];
  /** Set by a streaming handler: settles when the stream has ended. */
  finished?: Promise<void>;
}

/** Static files: path → bytes and content type. */
export type PageFiles = ReadonlyMap<
  string,
  { readonly bytes: Uint8Array<ArrayBuffer>; readonly type: string }
>;

/** One route. */
export interface Route {
  readonly method: "GET" | "POST";
  readonly path: string;
  /** Whether the body is JSON to parse before the handler runs. */
  readonly json: boolean;
  /** Whether it needs the API key (the page's files and /health do not). */
  readonly authorized: boolean;
  readonly handle: (context: RouteContext) => Response | Promise<Response>;
}

/** The chat page's files, served from `lib/server/page/`. */
export const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/chat.js": { file: "chat.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

/**
 * Reads the chat page's files once.
 *
 * @returns The files by path.
 */
export async function loadPageFiles(): Promise<PageFiles> {
  const files = new Map<string, { bytes: Uint8Array<ArrayBuffer>; type: string }>();
  for (const [path, { file, type }] of Object.entries(PAGE_FILES)) {
    files.set(path, {
      bytes: await Deno.readFile(new URL(`./page/${file}`, import.meta.url)),
      type,
    });
  }
  return files;
}

const ROUTES: readonly Route[] = [
  ...Object.keys(PAGE_FILES).map((path): Route => ({
    method: "GET",
    path,
    json: false,
    authorized: false,
    handle: ({ page }) => {
      const file = page.get(path)!;
      return new Response(file.bytes, {
        headers: { "content-type": file.type, "cache-control": "no-cache" },
      });
    },
  })),
  {
    method: "GET",
    path: "/health",
    json: false,
    authorized: false,
    handle: ({ engine }) =>
      engine
        ? Response.json({ status: "ok" })
        : Response.json({ status: "loading" }, { status: 503, headers: { "retry-after": "1" } }),
  },
  {
    method: "GET",
    path: "/metrics",
    json: false,
    authorized: true,
    handle: (context) => {
      const engine = ready(context);
      const text = engine.metrics.render({
        queueWaiting: engine.queue.waiting,
        running: engine.queue.running,
        kvUsed: engine.cache.usedPositions,
        kvSize: engine.cache.size * engine.contextLength,
      });
      return new Response(text, { headers: { "content-type": "text/plain; version=0.0.4" } });
    },
  },
  {
    method: "GET",
    path: "/v1/models",
    json: false,
    authorized: true,
    handle: (context) => Response.json(modelList(ready(context).model.name, context.loadedAt)),
  },
  {
    method: "POST",
    path: "/v1/chat/completions",
    json: true,
    authorized: true,
    handle: chatCompletions,
  },
  { method: "POST", path: "/v1/completions", json: true, authorized: true, handle: completions },
];

/**
 * The route for a request.
 *
 * @param method The HTTP method.
 * @param path The URL path.
 * @returns The route.
 * @throws {ApiError} 404 for an unknown path, 405 (with `Allow`) for a known path and another
 *   method.
 */
export function findRoute(method: string, path: string): Route {
  const matches = ROUTES.filter((route) => route.path === path);
  const route = matches.find((r) =>
    r.method === method || (method === "HEAD" && r.method === "GET")
  );
  if (route) return route;
  if (matches.length > 0) {
    const allow = matches.map((r) => r.method).join(", ");
    throw new ApiError(405, `${method} ${path}: method not allowed; use ${allow}`, {
      code: "method_not_allowed",
      headers: { allow },
    });
  }
  throw new ApiError(404, `${method} ${path}: no such route; see GET /v1/models`, {
    type: "not_found_error",
    code: "unknown_url",
  });
}

function ready(context: RouteContext): Engine {
  if (context.engine) return context.engine;
  throw new ApiError(503, "the model is still loading; retry when GET /health answers 200", {
    type: "server_error",
    code: "model_loading",
    headers: { "retry-after": "1" },
  });
}

async function chatCompletions(context: RouteContext): Promise<Response> {
  const engine = ready(context);
  const request = parseChatRequest(context.body);
  const prompt = engine.chatPrompt(request.messages);
  engine.checkFits(prompt, request.maxTokens, "messages");
  const identity = answerIdentity(engine, "chatcmpl");
  if (!request.stream) {
    const result = finished(await engine.run(prompt, request, context.signal, () => {}), context);
    context.usage = result.usage;
    return Response.json(chatCompletion(identity, result.text, result.finishReason, result.usage));
  }
  return await streamAnswer(context, engine, prompt, request, {
    start: () => chatChunk(identity, { role: "assistant", content: "" }),
    piece: (text) => chatChunk(identity, { content: text }),
    end: (reason) => chatChunk(identity, {}, reason),
    usage: (usage) => usageChunk(identity, "chat.completion.chunk", usage),
  });
}

async function completions(context: RouteContext): Promise<Response> {
  const engine = ready(context);
  const request = parseCompletionRequest(context.body);
  const prompt = engine.completionPrompt(request.prompt);
  engine.checkFits(prompt, request.maxTokens, "prompt");
  const identity = answerIdentity(engine, "cmpl");
  if (!request.stream) {
    const result = finished(await engine.run(prompt, request, context.signal, () => {}), context);
    context.usage = result.usage;
    return Response.json(textCompletion(identity, result.text, result.finishReason, result.usage));
  }
  return await streamAnswer(context, engine, prompt, request, {
    start: () => null,
    piece: (text) => textCompletion(identity, text, null),
    end: (reason) => textCompletion(identity, "", reason),
    usage: (usage) => usageChunk(identity, "text_completion", usage),
  });
}

/** The chunk shapes of one streamed endpoint. */
interface ChunkShapes {
  start(): unknown;
  piece(text: string): unknown;
  end(reason: NonNullable<EngineResult["finishReason"]>): unknown;
  usage(usage: EngineResult["usage"]): unknown;
}

/** Streams an answer as server-sent events; resolves with the response when its turn comes. */
async function streamAnswer(
  context: RouteContext,
  engine: Engine,
  prompt: readonly number[],
  request: { includeUsage: boolean } & Parameters<Engine["run"]>[1],
  shapes: ChunkShapes,
): Promise<Response> {
  const events = new EventStream();
  const signal = AbortSignal.any([context.signal, events.signal]);
  let started!: () => void;
  const turn = new Promise<void>((resolve) => started = resolve);
  const running = engine.run(
    prompt,
    request,
    signal,
    (text) => events.send(shapes.piece(text)),
    () => {
      const first = shapes.start();
      if (first !== null) events.send(first);
      started();
    },
  );
  // Before the turn comes, a failure (a full queue) is still an HTTP error status.
  await Promise.race([turn, running]);
  context.finished = running.then((result) => {
    context.usage = result.usage;
    if (result.finishReason === null) return events.close(); // aborted: nobody to tell
    events.send(shapes.end(result.finishReason));
    if (request.includeUsage) events.send(shapes.usage(result.usage));
    events.done();
  }, () => events.close());
  return new Response(events.body, { headers: EventStream.HEADERS });
}

/** A whole answer, or the 503 of a request aborted by the server stopping. */
function finished(
  result: EngineResult,
  context: RouteContext,
): EngineResult & { finishReason: NonNullable<EngineResult["finishReason"]> } {
  if (result.finishReason !== null) return { ...result, finishReason: result.finishReason };
  context.usage = result.usage;
  throw new ApiError(503, "the request was aborted: the client left or the server is stopping", {
    type: "server_error",
    code: "aborted",
  });
}

function answerIdentity(engine: Engine, prefix: string): AnswerIdentity {
  return {
    id: completionId(prefix),
    created: Math.floor(Date.now() / 1000),
    model: engine.model.name,
  };
}
