/**
 * Server-sent events as OpenAI streams them: each chunk is one `data: JSON` event, and the
 * stream ends with `data: [DONE]`.
 *
 * {@linkcode EventStream} is a byte stream for a `Response` body that the server writes events
 * to; when the client goes away, its `signal` fires so the generation behind it stops at once.
 *
 * @example
 * ```ts
 * import { EventStream } from "./sse.ts";
 *
 * const events = new EventStream();
 * const response = new Response(events.body, { headers: EventStream.HEADERS });
 * events.send({ choices: [] });
 * events.done(); // data: [DONE], then the stream closes
 * ```
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * One event's bytes: `data: <json>\n\n`.
 *
 * @param value The event's JSON value.
 * @returns The encoded event.
 */
export function sseEvent(value: unknown): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(value)}\n\n`);
}

/** The event that ends an OpenAI stream. */
export const SSE_DONE: Uint8Array = encoder.encode("data: [DONE]\n\n");

/** A response body of server-sent events. */
export class EventStream {
  /** Headers of an event-stream response. */
  static readonly HEADERS: Readonly<Record<string, string>> = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
  };

  /** The body to answer with. */
  readonly body: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #cancelled = new AbortController();
  #closed = false;

  constructor() {
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#closed = true;
        this.#cancelled.abort(new DOMException("the client closed the stream", "AbortError"));
      },
    });
  }

  /** Fires when the client stops reading (disconnects). */
  get signal(): AbortSignal {
    return this.#cancelled.signal;
  }

  /**
   * Sends one event (nothing once the stream is closed).
   *
   * @param value The event's JSON value.
   */
  send(value: unknown): void {
    if (!this.#closed) this.#controller.enqueue(sseEvent(value));
  }

  /** Sends `data: [DONE]` and closes the stream. */
  done(): void {
    if (this.#closed) return;
    this.#controller.enqueue(SSE_DONE);
    this.close();
  }

  /** Closes the stream without `[DONE]` (an answer that cannot finish). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.close();
  }
}
