/**
 * `llama serve` answering the official `openai` npm client, on a free loopback port.
 *
 * The answers are known without trusting the engine: the scripted model (see
 * `helpers/cli_model.ts`) greedily answers any chat with "Hi 👋" and completes "Hi" with
 * " 👋", then stops; prompt token counts come from tiktoken's Rust core on the Llama 3.1
 * chat format written out as text. The random `tiny` model gives long, seeded answers for
 * seeds, limits and aborts.
 *
 * @module
 */

import assert from "node:assert/strict";
import OpenAI from "openai";
import { randomModelDir, scriptedModelDir } from "./helpers/cli_model.ts";
import { rustTiktoken } from "./helpers/llama3_tokenizer.ts";
import { type ServerProcess, startServer } from "./helpers/server_process.ts";

/** The Llama 3.1 chat format as one string (Meta's ChatFormat, written out). */
function chatText(messages: { role: string; content: string }[]): string {
  return "<|begin_of_text|>" +
    messages.map((m) => `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content}<|eot_id|>`)
      .join("") +
    "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

async function metric(server: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${server.origin}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.split(" ")[1]);
}

Deno.test({
  name: "serve: the openai client chats, streams, completes and stops as asked",
  sanitizeResources: false, // the client's keep-alive connections outlive single steps
  async fn(t) {
    const peer = await rustTiktoken();
    // /health's 503 while loading is tested in-process (server_queue_cache_test.ts): here the
    // model may be ready before the first poll, so only what was seen is checked.
    const scripted = await startServer(["--model", await scriptedModelDir(), "--threads", "2"]);
    const client = new OpenAI({ baseURL: scripted.baseUrl, apiKey: "unused", maxRetries: 0 });
    try {
      await t.step("/health answered only 503 before it answered 200", () => {
        assert.ok(scripted.healthBeforeReady.every((status) => status === 503));
      });

      await t.step("models", async () => {
        const models = await client.models.list();
        assert.deepEqual(models.data.map((m) => m.id), ["scripted"]);
      });

      const user = [{ role: "user" as const, content: "Hi" }];
      await t.step("non-streaming chat: text, finish_reason, usage", async () => {
        const answer = await client.chat.completions.create({ model: "scripted", messages: user });
        assert.equal(answer.object, "chat.completion");
        assert.equal(answer.choices[0].message.role, "assistant");
        assert.equal(answer.choices[0].message.content, "Hi 👋");
        assert.equal(answer.choices[0].finish_reason, "stop");
        assert.equal(answer.usage?.prompt_tokens, peer.encodeAllowSpecial(chatText(user)).length);
        assert.equal(answer.usage?.completion_tokens, peer.encode("Hi 👋").length);
        assert.equal(answer.usage?.total_tokens, answer.usage!.prompt_tokens + 3);
      });

      await t.step("the second turn of a chat prefills only its new tokens", async () => {
        const first = [{ role: "user" as const, content: "Hello there" }];
        const a = await client.chat.completions.create({ model: "scripted", messages: first });
        const dialog = [
          ...first,
          { role: "assistant" as const, content: a.choices[0].message.content! },
          { role: "user" as const, content: "Hi again" },
        ];
        const b = await client.chat.completions.create({ model: "scripted", messages: dialog });
        assert.equal(b.usage?.prompt_tokens, peer.encodeAllowSpecial(chatText(dialog)).length);
        // Cached: the first prompt and the answer; the answer's <|eot_id|> was sampled but
        // never run through the model, so it is prefilled with the new turn.
        const firstPrompt = peer.encodeAllowSpecial(chatText(first)).length;
        assert.equal(
          b.usage?.prompt_tokens_details?.cached_tokens,
          firstPrompt + peer.encode("Hi 👋").length,
        );
      });

      await t.step("streaming chat: role first, pieces, finish_reason, usage chunk", async () => {
        const stream = await client.chat.completions.create({
          model: "scripted",
          messages: user,
          stream: true,
          stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const chunk of stream) chunks.push(chunk);
        assert.equal(chunks[0].choices[0].delta.role, "assistant");
        const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
        assert.equal(text, "Hi 👋");
        const withChoice = chunks.filter((c) => c.choices.length > 0);
        assert.equal(withChoice.at(-1)!.choices[0].finish_reason, "stop");
        assert.ok(withChoice.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
        const last = chunks.at(-1)!;
        assert.deepEqual(last.choices, []);
        assert.equal(last.usage?.completion_tokens, 3);
        assert.ok(
          new Set(chunks.map((c) => c.id)).size === 1 && chunks[0].id.startsWith("chatcmpl-"),
        );
      });

      await t.step("a stop string ends the answer before it", async () => {
        const answer = await client.chat.completions.create({
          model: "scripted",
          messages: user,
          stop: ["👋", "never"],
        });
        assert.equal(answer.choices[0].message.content, "Hi ");
        assert.equal(answer.choices[0].finish_reason, "stop");
        const stream = await client.chat.completions.create({
          model: "scripted",
          messages: user,
          stop: " ",
          stream: true,
        });
        let text = "";
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
        assert.equal(text, "Hi");
      });

      await t.step(
        "max_tokens and max_completion_tokens end with finish_reason length",
        async () => {
          const a = await client.chat.completions.create({
            model: "scripted",
            messages: user,
            max_tokens: 1,
          });
          assert.equal(a.choices[0].message.content, "Hi");
          assert.equal(a.choices[0].finish_reason, "length");
          assert.equal(a.usage?.completion_tokens, 1);
          const b = await client.chat.completions.create({
            model: "scripted",
            messages: user,
            max_completion_tokens: 1,
          });
          assert.equal(b.choices[0].finish_reason, "length");
        },
      );

      await t.step("completions, whole and streamed", async () => {
        const whole = await client.completions.create({ model: "scripted", prompt: "Hi" });
        assert.equal(whole.choices[0].text, " 👋");
        assert.equal(whole.choices[0].finish_reason, "stop");
        assert.equal(whole.usage?.prompt_tokens, 2); // <|begin_of_text|> Hi
        const stream = await client.completions.create({
          model: "scripted",
          prompt: "Hi",
          stream: true,
        });
        const pieces = [];
        for await (const chunk of stream) pieces.push(chunk.choices[0]);
        assert.equal(pieces.map((p) => p.text).join(""), " 👋");
        assert.equal(pieces.at(-1)!.finish_reason, "stop");
      });
    } finally {
      const { code, stderr } = await scripted.stop();
      assert.equal(code, 0, stderr);
      assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
      assert.doesNotMatch(stderr, /legacy behavior/, "deno.json opts in to no-legacy-abort");
      const logLines = stderr.split("\n").filter((l) => /^(GET|POST) \/\S* \d{3} .* ms/.test(l));
      assert.ok(
        logLines.some((l) => /^POST \/v1\/chat\/completions 200 prompt \d+ \(cached \d+\)/.test(l)),
      );
    }

    const random = await startServer(["--model", await randomModelDir(), "--threads", "1"]);
    const randomClient = new OpenAI({ baseURL: random.baseUrl, apiKey: "unused", maxRetries: 0 });
    try {
      const ask = (seed: number) =>
        randomClient.chat.completions.create({
          model: "random",
          messages: [{ role: "user", content: "Tell me a story" }],
          temperature: 1,
          top_p: 0.95,
          seed,
          max_tokens: 16,
        });

      await t.step("the same seed gives the same text, another seed another", async () => {
        const a = await ask(7), b = await ask(7), c = await ask(8);
        assert.equal(a.usage?.completion_tokens, 16);
        assert.equal(a.choices[0].message.content, b.choices[0].message.content);
        assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
      });

      await t.step("an aborted stream stops its generation at once", async () => {
        const before = await metric(random, "llama_generated_tokens_total");
        const stream = await randomClient.chat.completions.create({
          model: "random",
          messages: [{ role: "user", content: "Go on forever" }],
          temperature: 1,
          max_tokens: 3000,
          stream: true,
        });
        let chunks = 0;
        for await (const _ of stream) {
          if (++chunks === 5) break; // leaving the loop aborts the request
        }
        // The model is free again: a short request is answered at once.
        const next = await ask(1);
        assert.equal(next.usage?.completion_tokens, 16);
        const generated = (await metric(random, "llama_generated_tokens_total")) - before;
        assert.ok(generated < 3000 / 2, `the aborted answer stopped early (${generated} tokens)`);
      });
    } finally {
      const { code, stderr } = await random.stop();
      assert.equal(code, 0, stderr);
    }
  },
});
