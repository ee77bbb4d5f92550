/**
 * The chat page in a real browser: Debian's Chromium, headless, driven by `playwright-core`,
 * against `llama serve` on a loopback port. With the scripted model the answer is known
 * ("Hi 👋": the emoji arrives in two tokens and must show whole); with the random model the
 * answer is long, so the test sees it grow while it streams, presses Stop, and takes a
 * screenshot (written to a temporary folder, its path printed).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { randomModelDir, scriptedModelDir } from "./helpers/cli_model.ts";
import { startServer } from "./helpers/server_process.ts";

const CHROMIUM = "/usr/bin/chromium";

async function launch(): Promise<Browser> {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing; install it with 'apt-get install -y chromium'`);
  }
  // playwright-core bundles the is-wsl package, which probes /proc when it is imported (Deno
  // allows that only with --allow-all); its own test switch defers the probe to a call that
  // launching a browser never makes.
  Deno.env.set("__IS_WSL_TEST__", "1");
  const { chromium } = await import("playwright-core");
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-background-networking"],
  });
}

/** A page-side condition (as text: it runs in the browser): the answer is over n chars. */
function answerLongerThan(n: number): string {
  return `document.querySelector(".message.assistant").textContent.length > ${n}`;
}

async function sendMessage(page: Page, text: string): Promise<void> {
  await page.fill("#input", text);
  await page.press("#input", "Enter");
}

Deno.test({
  name: "serve: the chat page streams an answer, shows emoji whole, and stops on Stop",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const browser = await launch();
    try {
      await t.step("a known answer with an emoji, and its speed", async () => {
        const server = await startServer(["--model", await scriptedModelDir(), "--threads", "1"]);
        try {
          const page = await browser.newPage();
          page.setDefaultTimeout(10_000);
          await page.goto(server.origin + "/");
          await page.waitForFunction(`document.getElementById("model").textContent !== ""`);
          assert.equal(await page.textContent("#model"), "scripted");
          await page.fill("#system", "You are terse.");
          await sendMessage(page, "Hi");
          const answer = page.locator(".message.assistant").last();
          await page.waitForSelector('.message.assistant[data-state="done"]');
          assert.equal(await answer.textContent(), "Hi 👋");
          assert.equal(await page.locator(".message.user").textContent(), "Hi");
          assert.match(
            (await page.textContent("#speed"))!,
            /^last answer: 3 tokens, [\d.]+ tokens\/s$/,
          );
          // The second message goes with the first answer in the dialog.
          await sendMessage(page, "Hi");
          await page.waitForFunction(
            `document.querySelectorAll('.message.assistant[data-state="done"]').length === 2`,
          );
          await page.close();
        } finally {
          assert.equal((await server.stop()).code, 0);
        }
        const log = server.stderr();
        assert.match(log, /^GET \/ 200 \d+ ms$/m);
        // The second request found the first turn in the prompt cache.
        assert.match(log, /^POST \/v1\/chat\/completions 200 prompt \d+ \(cached [1-9]\d*\)/m);
      });

      await t.step("tokens stream in; Stop ends the answer; screenshot", async () => {
        const server = await startServer(["--model", await randomModelDir(), "--threads", "1"]);
        try {
          const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
          page.setDefaultTimeout(10_000);
          await page.goto(server.origin + "/");
          await page.fill("#max-tokens", "4000");
          await page.fill("#temperature", "1");
          await sendMessage(page, "Tell me everything 🦙");
          const answer = page.locator(".message.assistant").last();
          await page.waitForFunction(answerLongerThan(20));
          const early = (await answer.textContent())!.length;
          await page.waitForFunction(answerLongerThan(early + 20));
          assert.equal(await answer.getAttribute("data-state"), "streaming");
          assert.ok(await page.isEnabled("#stop"));
          assert.ok(await page.isDisabled("#send"));
          await page.click("#stop");
          await page.waitForSelector('.message.assistant[data-state="stopped"]');
          assert.ok(await page.isDisabled("#stop"));
          assert.ok(await page.isEnabled("#send"));
          const stopped = (await answer.textContent())!;
          await new Promise((resolve) => setTimeout(resolve, 300));
          assert.equal(await answer.textContent(), stopped, "nothing arrives after Stop");
          assert.equal(await page.locator(".message.user").textContent(), "Tell me everything 🦙");
          const dir = await Deno.makeTempDir({ prefix: "llama-bolts-page-" });
          const path = join(dir, "chat.png");
          await page.screenshot({ path });
          assert.ok(Deno.statSync(path).size > 1000);
          console.log(`screenshot: ${path}`);
          await page.close();
          // The server saw the client leave and is free for the next request at once.
          const health = await fetch(`${server.origin}/metrics`);
          assert.match(await health.text(), /^llama_requests_running 0$/m);
        } finally {
          assert.equal((await server.stop()).code, 0);
        }
      });
    } finally {
      await browser.close();
    }
  },
});
