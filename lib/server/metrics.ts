/**
 * The server's counters, rendered as Prometheus text for `GET /metrics`: requests by route and
 * status, tokens prompted (and how many came from the prompt cache) and generated, time spent
 * in prefill and decode with the speeds of the last request, queue length and KV cache use.
 *
 * @example
 * ```ts
 * import { ServerMetrics } from "./metrics.ts";
 *
 * const metrics = new ServerMetrics();
 * metrics.countRequest("/v1/chat/completions", 200);
 * console.log(metrics.render({ queueWaiting: 0, running: false, kvUsed: 0, kvSize: 8192 }));
 * ```
 *
 * @module
 */

/** One generation's numbers, as the engine reports them. */
export interface GenerationSample {
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly generatedTokens: number;
  /** Tokens the prefill ran (the prompt minus the cached part, plus any pending token). */
  readonly prefillTokens: number;
  readonly prefillMs: number;
  /** One-token forward passes. */
  readonly decodeSteps: number;
  readonly decodeMs: number;
}

/** The gauges read at render time. */
export interface MetricsGauges {
  /** Requests waiting in the queue. */
  readonly queueWaiting: number;
  /** Whether one runs. */
  readonly running: boolean;
  /** KV cache positions in use over all sessions. */
  readonly kvUsed: number;
  /** KV cache positions over all sessions. */
  readonly kvSize: number;
}

/** Counters since the server started. */
export class ServerMetrics {
  readonly #requests = new Map<string, number>();
  #promptTokens = 0;
  #cachedTokens = 0;
  #generatedTokens = 0;
  #prefillTokens = 0;
  #prefillMs = 0;
  #decodeSteps = 0;
  #decodeMs = 0;
  #lastPrefillSpeed = 0;
  #lastDecodeSpeed = 0;

  /**
   * Counts one finished request.
   *
   * @param route The route (`"/v1/completions"`), or `"other"` for unknown paths.
   * @param status The HTTP status answered.
   */
  countRequest(route: string, status: number): void {
    const key = `${route} ${status}`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  /**
   * Adds one generation's tokens and times.
   *
   * @param sample The generation's numbers.
   */
  countGeneration(sample: GenerationSample): void {
    this.#promptTokens += sample.promptTokens;
    this.#cachedTokens += sample.cachedTokens;
    this.#generatedTokens += sample.generatedTokens;
    this.#prefillTokens += sample.prefillTokens;
    this.#prefillMs += sample.prefillMs;
    this.#decodeSteps += sample.decodeSteps;
    this.#decodeMs += sample.decodeMs;
    if (sample.prefillMs > 0) {
      this.#lastPrefillSpeed = (sample.prefillTokens * 1000) / sample.prefillMs;
    }
    if (sample.decodeMs > 0) this.#lastDecodeSpeed = (sample.decodeSteps * 1000) / sample.decodeMs;
  }

  /**
   * The Prometheus text exposition.
   *
   * @param gauges Queue and cache state now.
   * @returns The text (`text/plain; version=0.0.4`).
   */
  render(gauges: MetricsGauges): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, values: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of values) lines.push(`${name}${labels} ${value}`);
    };
    metric(
      "llama_requests_total",
      "counter",
      "Requests answered, by route and HTTP status.",
      [...this.#requests].map(([key, n]) => {
        const [route, status] = key.split(" ");
        return [`{route=${JSON.stringify(route)},status="${status}"}`, n];
      }),
    );
    metric("llama_prompt_tokens_total", "counter", "Prompt tokens of all requests.", [
      ["", this.#promptTokens],
    ]);
    metric(
      "llama_prompt_cached_tokens_total",
      "counter",
      "Prompt tokens served from the prompt cache (not prefilled again).",
      [["", this.#cachedTokens]],
    );
    metric("llama_generated_tokens_total", "counter", "Tokens generated.", [
      ["", this.#generatedTokens],
    ]);
    metric("llama_prefill_tokens_total", "counter", "Tokens run through prefill.", [
      ["", this.#prefillTokens],
    ]);
    metric("llama_prefill_seconds_total", "counter", "Time spent in prefill.", [
      ["", this.#prefillMs / 1000],
    ]);
    metric("llama_decode_tokens_total", "counter", "One-token forward passes.", [
      ["", this.#decodeSteps],
    ]);
    metric("llama_decode_seconds_total", "counter", "Time spent in one-token passes.", [
      ["", this.#decodeMs / 1000],
    ]);
    metric("llama_prefill_tokens_per_second", "gauge", "Prefill speed of the last request.", [
      ["", this.#lastPrefillSpeed],
    ]);
    metric("llama_decode_tokens_per_second", "gauge", "Decode speed of the last request.", [
      ["", this.#lastDecodeSpeed],
    ]);
    metric("llama_queue_waiting", "gauge", "Requests waiting for the model.", [
      ["", gauges.queueWaiting],
    ]);
    metric("llama_requests_running", "gauge", "Requests running on the model (0 or 1).", [
      ["", gauges.running ? 1 : 0],
    ]);
    metric("llama_kv_cache_used_positions", "gauge", "KV cache positions in use.", [
      ["", gauges.kvUsed],
    ]);
    metric("llama_kv_cache_positions", "gauge", "KV cache positions over all sessions.", [
      ["", gauges.kvSize],
    ]);
    return lines.join("\n") + "\n";
  }
}
