/**
 * `llama serve` over raw HTTP: every error answer in OpenAI's shape with the right status and
 * field, the API key, `/metrics`, a load test (8 clients × 4 requests against a short queue:
 * each ends with a full answer or a clean 503, the server's memory returns to its level), and
 * a graceful stop on SIGTERM that finishes the answer in flight and exits 0.
 *
 * @module
 */

import assert from "node:assert/strict";
import { randomModelDir, scriptedModelDir } from "./helpers/cli_model.ts";
import { residentBytes, type ServerProcess, startServer } from "./helpers/server_process.ts";

const KEY = "sk-test-key";

async function post(
  server: ServerProcess,
  path: string,
  body: string,
  headers: Record<string, string> = { authorization: `Bearer ${KEY}` },
): Promise<Response> {
  return await fetch(`${server.origin}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

/** Reads an error answer and checks its OpenAI shape. */
async function apiError(
  response: Response,
  status: number,
): Promise<{ message: string; type: string; param: string | null; code: string | null }> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(typeof body.error.message, "string");
  assert.doesNotMatch(body.error.message, /\n/, "one line");
  return body.error;
}

const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ messages: [{ role: "user", content: "Hi" }], ...extra });

Deno.test("serve: errors in OpenAI's shape, API key, metrics", async (t) => {
  const server = await startServer([
    "--model",
    await scriptedModelDir(),
    "--threads",
    "1",
    "--context",
    "64",
    "--api-key",
    KEY,
  ]);
  try {
    await t.step(
      "401 without the key or with a wrong one; the page and /health are open",
      async () => {
        const none = await apiError(await post(server, "/v1/chat/completions", chat(), {}), 401);
        assert.equal(none.code, "invalid_api_key");
        await apiError(
          await post(server, "/v1/chat/completions", chat(), { authorization: `Bearer ${KEY}x` }),
          401,
        );
        await apiError(await fetch(`${server.origin}/v1/models`), 401);
        const ok = await post(server, "/v1/chat/completions", chat());
        assert.equal(ok.status, 200);
        assert.equal((await ok.json()).choices[0].message.content, "Hi 👋");
        for (const path of ["/", "/health"]) {
          const response = await fetch(`${server.origin}${path}`);
          await response.body?.cancel();
          assert.equal(response.status, 200, path);
        }
      },
    );

    await t.step("400 for invalid JSON and for each bad field, naming it", async () => {
      const json = await apiError(await post(server, "/v1/chat/completions", "{nope"), 400);
      assert.equal(json.code, "invalid_json");
      const cases: [string, string, string][] = [
        ["/v1/chat/completions", JSON.stringify({}), "messages"],
        ["/v1/chat/completions", JSON.stringify({ messages: [] }), "messages"],
        ["/v1/chat/completions", chat({ temperature: "hot" }), "temperature"],
        ["/v1/chat/completions", chat({ temperature: 3 }), "temperature"],
        ["/v1/chat/completions", chat({ top_p: 0 }), "top_p"],
        ["/v1/chat/completions", chat({ top_k: 1.5 }), "top_k"],
        ["/v1/chat/completions", chat({ max_tokens: 0 }), "max_tokens"],
        ["/v1/chat/completions", chat({ max_completion_tokens: -1 }), "max_completion_tokens"],
        ["/v1/chat/completions", chat({ seed: "x" }), "seed"],
        ["/v1/chat/completions", chat({ stop: ["a", "b", "c", "d", "e"] }), "stop"],
        ["/v1/chat/completions", chat({ stream: "yes" }), "stream"],
        ["/v1/chat/completions", chat({ n: 2 }), "n"],
        [
          "/v1/chat/completions",
          chat({ stream_options: { include_usage: 1 } }),
          "stream_options.include_usage",
        ],
        [
          "/v1/chat/completions",
          JSON.stringify({ messages: [{ role: "user", content: "a" }, { role: "robot" }] }),
          "messages[1].role",
        ],
        [
          "/v1/chat/completions",
          JSON.stringify({
            messages: [{ role: "user", content: [{ type: "image_url", image_url: {} }] }],
          }),
          "messages[0].content[0].type",
        ],
        ["/v1/completions", JSON.stringify({ prompt: 42 }), "prompt"],
        ["/v1/completions", JSON.stringify({ prompt: [1, 999999] }), "prompt"],
      ];
      for (const [path, body, param] of cases) {
        const error = await apiError(await post(server, path, body), 400);
        assert.equal(error.param, param, `${body}: ${error.message}`);
        assert.equal(error.type, "invalid_request_error");
        assert.match(error.message, new RegExp(`^${param.replace(/[[\].]/g, "\\$&")}`));
      }
      const body = await apiError(await post(server, "/v1/chat/completions", "[1]"), 400);
      assert.match(body.message, /JSON object/);
    });

    await t.step("400 for a prompt over the context, with both numbers", async () => {
      const long = "word ".repeat(100); // about 100 tokens, the context holds 64
      const error = await apiError(
        await post(
          server,
          "/v1/chat/completions",
          JSON.stringify({ messages: [{ role: "user", content: long }] }),
        ),
        400,
      );
      assert.equal(error.code, "context_length_exceeded");
      assert.equal(error.param, "messages");
      const [tokens, context] = [...error.message.matchAll(/(\d+)/g)].map((m) => Number(m[1]));
      assert.ok(tokens > 100 && context === 64, error.message);
      const over = await apiError(
        await post(server, "/v1/chat/completions", chat({ max_tokens: 60 })),
        400,
      );
      assert.equal(over.param, "max_tokens");
      assert.match(over.message, /11 tokens and 60 new ones .* 71 in all, over the context of 64/);
      const completion = await apiError(
        await post(server, "/v1/completions", JSON.stringify({ prompt: long })),
        400,
      );
      assert.equal(completion.param, "prompt");
    });

    await t.step("404 unknown route, 405 wrong method, 413 body too large", async () => {
      const missing = await apiError(await fetch(`${server.origin}/v1/nothing`), 404);
      assert.equal(missing.code, "unknown_url");
      const wrong = await fetch(`${server.origin}/v1/chat/completions`);
      assert.equal(wrong.headers.get("allow"), "POST");
      await apiError(wrong, 405);
      await apiError(await post(server, "/v1/models", "{}"), 405);
      const big = await post(
        server,
        "/v1/completions",
        JSON.stringify({ prompt: "x".repeat(5 << 20) }),
      );
      assert.equal((await apiError(big, 413)).code, "request_too_large");
    });

    await t.step("/metrics in Prometheus text", async () => {
      const response = await fetch(`${server.origin}/metrics`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      assert.match(response.headers.get("content-type")!, /^text\/plain/);
      const text = await response.text();
      const lines = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
      for (const line of lines) assert.match(line, /^[a-z_]+(\{[^}]*\})? -?[\d.e+-]+$/, line);
      assert.match(
        text,
        /^llama_requests_total\{route="\/v1\/chat\/completions",status="200"\} 1$/m,
      );
      assert.match(
        text,
        /^llama_requests_total\{route="\/v1\/chat\/completions",status="400"\} \d+$/m,
      );
      assert.match(text, /^llama_generated_tokens_total 3$/m);
      assert.match(text, /^llama_kv_cache_positions 128$/m); // 2 sessions × 64
      assert.match(text, /^llama_queue_waiting 0$/m);
    });
  } finally {
    const { code, stderr } = await server.stop();
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
    // One log line per request: method, path, status, time.
    assert.match(stderr, /^POST \/v1\/completions 413 \d+ ms$/m);
    assert.match(stderr, /^GET \/v1\/nothing 404 \d+ ms$/m);
  }
});

Deno.test("serve: 8 clients × 4 requests against a queue of 2", async () => {
  const server = await startServer([
    "--model",
    await randomModelDir(),
    "--threads",
    "1",
    "--queue",
    "2",
    "--context",
    "256",
  ]);
  try {
    const ask = async (client: number, i: number) => {
      const response = await post(
        server,
        "/v1/chat/completions",
        JSON.stringify({
          messages: [{ role: "user", content: `client ${client} request ${i}` }],
          temperature: 1,
          seed: client * 10 + i,
          max_tokens: 24,
          stream: i % 2 === 0,
        }),
        {},
      );
      if (response.status === 503) {
        assert.equal(response.headers.get("retry-after"), "1");
        assert.equal((await apiError(response, 503)).code, "server_busy");
        return "busy";
      }
      assert.equal(response.status, 200);
      if (i % 2 === 0) {
        const text = await response.text();
        assert.ok(text.endsWith("data: [DONE]\n\n"), "a stream ends with [DONE]");
        assert.match(text, /"finish_reason":"(length|stop)"/);
      } else {
        const body = await response.json();
        assert.ok(["length", "stop"].includes(body.choices[0].finish_reason));
      }
      return "answered";
    };
    // Warm up (both kinds of answer, both sessions, a refusal) before measuring memory.
    await Promise.all([0, 1, 2, 3, 4].map((i) => ask(9, i)));
    const before = await residentBytes(server.pid);
    const started = performance.now();
    const outcomes = (await Promise.all(
      Array.from({ length: 8 }, async (_, client) => {
        const results = [];
        for (let i = 0; i < 4; i++) results.push(await ask(client, i));
        return results;
      }),
    )).flat();
    const ms = performance.now() - started;
    assert.equal(outcomes.length, 32);
    const answered = outcomes.filter((o) => o === "answered").length;
    assert.ok(answered >= 3, `at least the running and queued ones are answered (${answered})`);
    assert.ok(outcomes.includes("busy"), "a queue of 2 refuses some of 8 clients");
    assert.ok(ms < 20_000, `bounded in time (${ms.toFixed(0)} ms)`);
    // Still up, and every place in the queue is free again.
    const metrics = await (await fetch(`${server.origin}/metrics`)).text();
    assert.match(metrics, /^llama_queue_waiting 0$/m);
    assert.match(metrics, /^llama_requests_running 0$/m);
    const after = await residentBytes(server.pid);
    assert.ok(
      after < before + 32 * 2 ** 20,
      `memory back near its level: ${(before / 2 ** 20).toFixed(0)} MiB before, ` +
        `${(after / 2 ** 20).toFixed(0)} MiB after`,
    );
    console.log(
      `load: ${answered} answered, ${32 - answered} refused in ${ms.toFixed(0)} ms; RSS ` +
        `${(before / 2 ** 20).toFixed(0)} → ${(after / 2 ** 20).toFixed(0)} MiB`,
    );
  } finally {
    const { code, stderr } = await server.stop();
    assert.equal(code, 0, stderr);
  }
});

Deno.test("serve: SIGTERM finishes the answer in flight, then exits 0", async () => {
  const server = await startServer(["--model", await randomModelDir(), "--threads", "1"]);
  const response = await post(
    server,
    "/v1/completions",
    JSON.stringify({ prompt: "Once", max_tokens: 60, stream: true }),
    {},
  );
  const reader = response.body!.getReader();
  await reader.read(); // the answer has started
  const stopped = server.stop("SIGTERM");
  let text = new TextDecoder().decode((await reader.read()).value);
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    text += new TextDecoder().decode(chunk.value);
  }
  assert.ok(text.endsWith("data: [DONE]\n\n"), "the answer in flight was finished");
  assert.match(text, /"finish_reason":"length"/);
  const { code, stderr } = await stopped;
  assert.equal(code, 0, stderr);
  assert.match(stderr, /stopping: finishing the requests in flight/);
  assert.match(stderr, /^POST \/v1\/completions 200 prompt 2 \(cached 0\) completion 60 \d+ ms$/m);
});

Deno.test("serve --on-stop abort: SIGTERM ends the answer in flight at once, exits 0", async () => {
  const server = await startServer([
    "--model",
    await randomModelDir(),
    "--threads",
    "1",
    "--on-stop",
    "abort",
  ]);
  const response = await post(
    server,
    "/v1/completions",
    JSON.stringify({ prompt: "Once", max_tokens: 5000, stream: true }),
    {},
  );
  const reader = response.body!.getReader();
  await reader.read();
  const started = performance.now();
  const stopped = server.stop("SIGTERM");
  let text = "";
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    text += new TextDecoder().decode(chunk.value);
  }
  assert.ok(!text.includes("[DONE]"), "the aborted answer does not claim to be complete");
  const { code, stderr } = await stopped;
  assert.equal(code, 0, stderr);
  assert.ok(performance.now() - started < 5000, "stopped without generating 5000 tokens");
  assert.match(stderr, /stopping: aborting the requests in flight/);
});
