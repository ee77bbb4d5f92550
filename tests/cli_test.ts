/**
 * End-to-end tests of the `llama` program: each test runs `main.ts` in a subprocess, with the
 * permissions of the `llama` task, on small model folders built once (see
 * `helpers/cli_model.ts`). Expected token counts come from tiktoken's Rust core and Meta's
 * chat format rules, expected menu text from the seed's Go format strings, expected generated
 * tokens from a model whose weights were chosen by hand; never from our own output.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ptyAvailable,
  randomModelDir,
  REPO_DIR,
  runDeno,
  runLlama,
  type RunResult,
  scriptedModelDir,
  taskPermissions,
} from "./helpers/cli_model.ts";
import { metaSpecialTokens, rustTiktoken, tokenizerPath } from "./helpers/llama3_tokenizer.ts";
import { LiveStatus } from "../lib/cli/status.ts";
import { painter } from "../lib/cli/terminal.ts";

const VOCAB = 128256;
const SPECIAL = metaSpecialTokens();
const BOS = SPECIAL["<|begin_of_text|>"];
const EOT = SPECIAL["<|eot_id|>"];
const WAVE = "👋 [:waving_hand:\\U0001F44B]"; // CLDR "waving hand", U+1F44B, written by hand
const ONE = ["--threads", "1"];

/** The seed's menu (llama-nuts-and-bolts `askUserPromptChoice`, its format strings applied). */
const SEED_MENU = [
  "Select from our predefined prompts (latest two are for manual input):",
  " 0.                   Print model metadata (tensor list, hyperparameters, etc...)",
  " 1. [Text completion] Prompt: Hello, my name is",
  " 2. [Chat mode]       System Prompt: You are Einstein",
  "                      Prompt: Describe your theory.",
  " 3. [Chat mode]       System Prompt: Answer in 20 words, directly, and without an introduction",
  "                      Prompt: Can you explain what is Theory of relativity?",
  " 4. [Chat mode]       System Prompt: You are a pirate",
  "                      Prompt: Explain what is quantum computer in 20 words.",
  " 5. [Chat mode]       System Prompt: Always answer with emojis",
  "                      Prompt: How to go from Beijing to NY?",
  " 6. [Chat mode]       System Prompt: Answer with only one emoji",
  "                      Prompt: What is the flag of Turkey?",
  " 7. [Text completion] Other, manual input",
  " 8. [Chat mode]       Other, manual input",
].join("\n");
const QUESTION = "Your choice (choose 0 to 8 and press Enter): ";

// ---------------------------------------------------------------------------
// Independent expectations

/** Token count of ordinary text, by tiktoken's Rust core. */
async function count(text: string): Promise<number> {
  return (await rustTiktoken()).encode(text).length;
}

/** `<|start_header_id|>role<|end_header_id|>\n\n`: Meta's ChatFormat.encode_header. */
async function header(role: string): Promise<number> {
  return 1 + await count(role) + 1 + await count("\n\n");
}

/** A message: header, content, `<|eot_id|>`. */
async function message(role: string, content: string): Promise<number> {
  return await header(role) + await count(content) + 1;
}

/** A fresh dialog: BOS, the messages, the open assistant header. */
async function dialog(system: string | undefined, user: string): Promise<number> {
  return 1 + (system === undefined ? 0 : await message("system", system)) +
    await message("user", user) + await header("assistant");
}

/** The prompt counts of the stats lines ("[12 prompt tokens, 3 generated (…) · …]"). */
function statsLines(stderr: string): { prompt: number; generated: number; why: string }[] {
  return [...stderr.matchAll(/^\[(\d+) prompt tokens, (\d+) generated \(([^)]*)\)/gm)].map((m) => ({
    prompt: Number(m[1]),
    generated: Number(m[2]),
    why: m[3],
  }));
}

let ranks: Uint8Array[] | undefined;
/** Decodes ordinary token ids straight from tokenizer.model's "base64 rank" lines. */
async function decode(ids: readonly number[]): Promise<string> {
  ranks ??= (await Deno.readTextFile(await tokenizerPath())).split("\n").filter(Boolean).map(
    (line) => Uint8Array.from(atob(line.split(" ")[0]), (c) => c.charCodeAt(0)),
  );
  const bytes = ids.flatMap((id) => [...ranks![id]]);
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function assertNoStackTrace(result: RunResult): void {
  assert.doesNotMatch(result.stderr, /^\s+at .*:\d+:\d+/m, result.stderr);
  assert.doesNotMatch(result.stderr, /Uncaught|Stack backtrace/, result.stderr);
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

// ---------------------------------------------------------------------------
// Menu

Deno.test("menu: the seed's choices 0 to 8; 0 prints the metadata, then the menu again", async () => {
  const model = await randomModelDir();
  const r = await runLlama(["--model", model, ...ONE], { stdin: "0\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(occurrences(r.stdout, SEED_MENU + "\n\n" + QUESTION), 2, r.stdout);
  const metadata = r.stdout.slice(r.stdout.indexOf(QUESTION) + QUESTION.length);
  assert.match(metadata, /n_layers\s+2\n/);
  assert.match(metadata, /tok_embeddings\.weight\s+bf16\s+\[128256, 64\]/);
  assert.match(metadata, /Model metadata was printed\./);
  assertNoStackTrace(r);
});

Deno.test("menu: an invalid choice gets a one-line reason and the question again", async () => {
  const model = await randomModelDir();
  const r = await runLlama(["--model", model, ...ONE], { stdin: "9\nx\n-1\n\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(occurrences(r.stdout, SEED_MENU), 1, "the menu is not repeated");
  const answers = r.stdout.split(QUESTION).slice(1, -1).map((part) => part.trim());
  assert.deepEqual(answers.map((a) => a.split("\n").length), [1, 1, 1, 1], r.stdout);
  assert.match(answers[0], /between 0 and 8/);
  assert.match(answers[1], /not a valid number/i);
  assert.match(answers[2], /between 0 and 8/);
  assert.match(answers[3], /not a valid number/i);
});

Deno.test("menu: 1 completes 'Hello, my name is' with a stats line on stderr", async () => {
  const model = await randomModelDir();
  const r = await runLlama(["--model", model, ...ONE, "--max-tokens", "4"], { stdin: "1\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\nHello, my name is/);
  assert.deepEqual(statsLines(r.stderr), [{
    prompt: 1 + await count("Hello, my name is"),
    generated: 4,
    why: "reached --max-tokens",
  }]);
  assert.equal(occurrences(r.stdout, SEED_MENU), 2, "the menu comes back");
  assertNoStackTrace(r);
});

Deno.test("menu: 7 and 8 ask for the prompt (8 first for a system prompt); empty is asked again", async () => {
  const model = await randomModelDir();
  const stdin = "7\n\nOnce upon a time\n8\nBe brief\n\n   \nhi there\n";
  const r = await runLlama(["--model", model, ...ONE, "--max-tokens", "2"], { stdin });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(occurrences(r.stdout, 'Write down your "system prompt" (optional)'), 1);
  assert.equal(occurrences(r.stdout, "Write down your prompt and press Enter: "), 5);
  assert.equal(occurrences(r.stdout, "The prompt you entered is empty."), 3);
  assert.match(r.stdout, /\nOnce upon a time/);
  // The system prompt and the prompt both reached the model: the prompt sizes say so.
  assert.deepEqual(statsLines(r.stderr).map((s) => s.prompt), [
    1 + await count("Once upon a time"),
    await dialog("Be brief", "hi there"),
  ]);
});

Deno.test("menu: end of input exits cleanly, even in the middle of a question", async () => {
  const model = await randomModelDir();
  for (const stdin of ["", "8\n", "8\nsystem\n", "7\n"]) {
    const r = await runLlama(["--model", model, ...ONE], { stdin });
    assert.equal(r.code, 0, `stdin ${JSON.stringify(stdin)}: ${r.stderr}`);
    assertNoStackTrace(r);
  }
});

Deno.test("menu: chat prompt 6 streams the answer with emoji names", async () => {
  const r = await runLlama(["--model", await scriptedModelDir(), ...ONE], { stdin: "6\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Prompt: What is the flag of Turkey\?\n/);
  assert.ok(r.stdout.includes(`Hi ${WAVE}\n`), r.stdout);
  assert.deepEqual(statsLines(r.stderr), [{
    prompt: await dialog("Answer with only one emoji", "What is the flag of Turkey?"),
    generated: 3,
    why: "end of turn",
  }]);
});

// ---------------------------------------------------------------------------
// Chat

Deno.test("chat: later turns process only their own tokens; /stats /system /reset /exit", async () => {
  const model = await randomModelDir();
  const stdin = [
    "Hello there",
    "How are you today?",
    "/stats",
    "/foo",
    "/help",
    "/system Be brief",
    "hi",
    "/reset",
    "hi",
    "/exit",
    "never sent",
  ].join("\n") + "\n";
  const r = await runLlama(["chat", "--model", model, ...ONE, "--max-tokens", "3"], { stdin });
  assert.equal(r.code, 0, r.stderr);
  assertNoStackTrace(r);
  const stats = statsLines(r.stderr);
  assert.equal(stats.length, 4, r.stderr);
  const first = await dialog(undefined, "Hello there");
  assert.equal(stats[0].prompt, first);
  // Turn 2: the pending last token of turn 1, an <|eot_id|> closing turn 1 if it was cut
  // short, then only the new message and the assistant header.
  const closing = stats[0].why === "end of turn" ? 0 : 1;
  const second = 1 + closing + await message("user", "How are you today?") +
    await header("assistant");
  assert.equal(stats[1].prompt, second);
  const used = first + stats[0].generated + (second - 1) + stats[1].generated;
  assert.match(
    r.stderr,
    new RegExp(
      `^context: ${used} of 8192 tokens used .*turns: 2 · tokens generated: ${
        stats[0].generated + stats[1].generated
      }$`,
      "m",
    ),
  );
  assert.match(r.stderr, /^last answer: \[\d+ prompt tokens/m);
  assert.match(r.stderr, /^unknown command \/foo; \/help lists the commands$/m);
  assert.match(r.stderr, /^\/reset .*\/system TEXT .*\/stats .*\/exit/m);
  // /system starts over with the system prompt; /reset starts over and keeps it.
  assert.equal(stats[2].prompt, await dialog("Be brief", "hi"));
  assert.equal(stats[3].prompt, await dialog("Be brief", "hi"));
  assert.equal(occurrences(r.stdout, "llama> "), 4, "nothing after /exit");
});

Deno.test("chat: a turn after an answer that ended with <|eot_id|> adds only the new turn", async () => {
  const model = await scriptedModelDir();
  const r = await runLlama(["chat", "--model", model, ...ONE], { stdin: "Hello\nAnd again\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(occurrences(r.stdout, `llama> Hi ${WAVE}\n`), 2, r.stdout);
  assert.deepEqual(statsLines(r.stderr), [
    { prompt: await dialog(undefined, "Hello"), generated: 3, why: "end of turn" },
    {
      // The pending token is the <|eot_id|> itself.
      prompt: 1 + await message("user", "And again") + await header("assistant"),
      generated: 3,
      why: "end of turn",
    },
  ]);
});

Deno.test("chat: messages that do not fit the context get a clear message, not a crash", async () => {
  const model = await randomModelDir();
  const long = Array(80).fill("word").join(" ");
  const stdin = [long, "hi", "hello again", "/reset", "hi"].join("\n") + "\n";
  const r = await runLlama(["chat", "--model", model, ...ONE, "--context", "64"], { stdin });
  assert.equal(r.code, 0, r.stderr);
  assertNoStackTrace(r);
  assert.match(r.stderr, /^the message is too long: .*needs \d+ tokens, the context holds 64/m);
  // "hi" fills the rest of the context (--max-tokens is clamped to it), so the next turn
  // cannot fit until /reset.
  assert.match(r.stderr, /^the context is now full; \/reset starts a new conversation$/m);
  assert.match(r.stderr, /^the message does not fit: it needs \d+ tokens, 0 of 64 are left/m);
  const stats = statsLines(r.stderr);
  const hi = await dialog(undefined, "hi");
  assert.deepEqual(stats.map((s) => [s.prompt, s.generated]), [[hi, 64 - hi], [hi, 64 - hi]]);
});

// ---------------------------------------------------------------------------
// Complete

interface CompleteJson {
  prompt_tokens: number[];
  tokens: number[];
  text: string;
  stop_reason: string;
  stats: Record<string, number>;
}

Deno.test("complete: greedy is deterministic; --json; - reads stdin", async () => {
  const model = await randomModelDir();
  const prompt = "Hello, my name is";
  const args = ["complete", "--model", model, ...ONE, "--max-tokens", "8"];
  const [a, b, plain, piped] = await Promise.all([
    runLlama([...args, "--json", prompt]),
    runLlama([...args, "--json", prompt]),
    runLlama([...args, prompt]),
    runLlama([...args, "--json", "-"], { stdin: prompt + "\n" }),
  ]);
  for (const r of [a, b, plain, piped]) assert.equal(r.code, 0, r.stderr);
  assert.equal(a.stdout.trim().split("\n").length, 1, "one JSON object on one line");
  assert.equal(a.stderr, "", "--json prints nothing else");
  const json: CompleteJson = JSON.parse(a.stdout);
  assert.deepEqual(json.prompt_tokens, [BOS, ...(await rustTiktoken()).encode(prompt)]);
  assert.equal(json.tokens.length, 8);
  assert.equal(json.stop_reason, "max-tokens");
  assert.equal(json.text, await decode(json.tokens));
  assert.equal(json.stats.prompt_tokens, json.prompt_tokens.length);
  assert.equal(json.stats.generated_tokens, 8);
  for (const key of ["load_ms", "time_to_first_token_ms", "decode_tokens_per_second"]) {
    assert.equal(typeof json.stats[key], "number", key);
  }
  assert.deepEqual(JSON.parse(b.stdout).tokens, json.tokens, "greedy is deterministic");
  const fromStdin: CompleteJson = JSON.parse(piped.stdout);
  assert.deepEqual(fromStdin.prompt_tokens, json.prompt_tokens, "- reads the prompt from stdin");
  assert.deepEqual(fromStdin.tokens, json.tokens);
  assert.equal(plain.stdout, json.text + "\n");
  assert.match(plain.stderr, /^\[6 prompt tokens, 8 generated \(reached --max-tokens\)/m);
});

Deno.test("complete --logits-out: steps x vocab float32 rows whose argmax is the token", async () => {
  const dir = await Deno.makeTempDir({ prefix: "llama-bolts-logits-" });
  try {
    const random = join(dir, "random.f32");
    const scripted = join(dir, "scripted.f32");
    const [r, s] = await Promise.all([
      runLlama([
        "complete",
        "--model",
        await randomModelDir(),
        ...ONE,
        "--max-tokens",
        "5",
        "--json",
        "--logits-out",
        random,
        "Hello",
      ]),
      runLlama([
        "complete",
        "--model",
        await scriptedModelDir(),
        ...ONE,
        "--json",
        "--logits-out",
        scripted,
        "Hi",
      ]),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.code, 0, s.stderr);
    const check = async (path: string, expected: number[]) => {
      const bytes = await Deno.readFile(path);
      assert.equal(bytes.length, expected.length * VOCAB * 4, path);
      const rows = new Float32Array(bytes.buffer, 0, bytes.length / 4);
      expected.forEach((id, step) => {
        const row = rows.subarray(step * VOCAB, (step + 1) * VOCAB);
        let best = 0;
        for (let i = 1; i < VOCAB; i++) if (row[i] > row[best]) best = i;
        assert.equal(best, id, `${path} row ${step}`);
      });
    };
    // Five steps, each row's argmax is the greedy token.
    await check(random, JSON.parse(r.stdout).tokens);
    // "Hi" → " 👋" (62904, 233), then a last row whose argmax is the stop token.
    const json: CompleteJson = JSON.parse(s.stdout);
    assert.deepEqual(json.tokens, [62904, 233]);
    assert.equal(json.stop_reason, "stop-token");
    await check(scripted, [...json.tokens, EOT]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("complete --seed: same seed same text, another seed another text", async () => {
  const model = await randomModelDir();
  const args = ["complete", "--model", model, ...ONE, "--temperature", "1", "--max-tokens", "12"];
  const runs = await Promise.all(
    ["7", "7", "8"].map((seed) => runLlama([...args, "--seed", seed, "--json", "Once upon"])),
  );
  const tokens = runs.map((r) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).tokens;
  });
  assert.deepEqual(tokens[0], tokens[1]);
  assert.notDeepEqual(tokens[0], tokens[2]);
});

Deno.test("complete: a prompt longer than the context is a clear error, exit code 1", async () => {
  const model = await randomModelDir();
  const prompt = Array(30).fill("word").join(" ");
  const r = await runLlama(["complete", "--model", model, ...ONE, "--context", "16", prompt]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assertNoStackTrace(r);
  assert.match(
    r.stderr,
    /^error: expected a prompt shorter than the context of 16 tokens, found \d+ tokens/m,
  );
  assert.match(r.stderr, /^ {2}fix: /m);
});

// ---------------------------------------------------------------------------
// Flags, help, colors, model folder

Deno.test("flags: bad values are one line naming the valid range, exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["complete", "--bogus", "x"], /'--bogus'.*llama complete --help/],
    [["complete", "--temperature", "-1", "x"], /--temperature: expected a number >= 0, got '-1'/],
    [["chat", "--temperature=-0.5"], /--temperature: expected a number >= 0, got '-0.5'/],
    [["complete", "--top-p", "0", "x"], /--top-p: expected a number in \(0, 1\], got '0'/],
    [["--top-p", "1.5"], /--top-p: expected a number in \(0, 1\], got '1.5'/],
    [["complete", "--seed", "abc", "x"], /--seed: expected an integer in \[0, \d+\], got 'abc'/],
    [["complete", "--max-tokens", "0", "x"], /--max-tokens: expected an integer >= 1, got '0'/],
    [["chat", "--top-k", "-3"], /--top-k: expected an integer >= 0, got '-3'/],
    [["complete", "--context", "8", "x"], /--context: expected an integer in \[16, 131072\]/],
    [["frobnicate"], /unknown command 'frobnicate'/],
  ];
  const results = await Promise.all(cases.map(([args]) => runLlama(args)));
  results.forEach((r, i) => {
    const [args, pattern] = cases[i];
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assertNoStackTrace(r);
  });
});

Deno.test("--help of every command exits 0 with usage and an example", async () => {
  const cases = [
    ["--help"],
    ["-h"],
    ["help"],
    ["--model", "nowhere", "--help"],
    ["chat", "--help"],
    ["complete", "--help"],
    ["info", "--help"],
    ["tokenize", "-h"],
    ["make-model", "--help"],
    ["help", "complete"],
    ["serve", "--help"],
  ];
  const results = await Promise.all(cases.map((args) => runLlama(args)));
  results.forEach((r, i) => {
    const what = cases[i].join(" ");
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: llama/m, what);
    assert.match(r.stdout, /^Examples?:\n {2}\S/m, what);
  });
  assert.match(results[4].stdout, /\/reset/);
  assert.match(results[5].stdout, /--logits-out/);
  assert.match(results[8].stdout, /--preset/);
  assert.equal(results[9].stdout, results[5].stdout);
  assert.match(results[10].stdout, /--api-key KEY/);
});

Deno.test({
  name: "NO_COLOR and --no-color: no escape sequences on a terminal",
  ignore: !(await ptyAvailable()),
  fn: async () => {
    const model = await scriptedModelDir();
    const complete = ["complete", "--model", model, ...ONE, "Hi"];
    const chat = ["chat", "--model", model, ...ONE];
    const [colored, noColorEnv, noColorFlag, chatEnv, chatFlag] = await Promise.all([
      runLlama(complete, { tty: true }),
      runLlama(complete, { tty: true, env: { NO_COLOR: "1" } }),
      runLlama([...complete, "--no-color"], { tty: true }),
      runLlama(chat, { tty: true, stdin: "Hello\n", env: { NO_COLOR: "1" } }),
      runLlama([...chat, "--no-color"], { tty: true, stdin: "Hello\n" }),
    ]);
    // The control: on a terminal the stats line is dim.
    assert.ok(colored.stdout.includes("\x1b[2m[2 prompt tokens"), colored.stdout);
    for (const r of [noColorEnv, noColorFlag, chatEnv, chatFlag]) {
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, /prompt tokens/);
      assert.ok(!r.stdout.includes("\x1b"), JSON.stringify(r.stdout));
    }
  },
});

Deno.test("emoji names: complete adds them on a terminal only; chat and menu always", async () => {
  const model = await scriptedModelDir();
  const complete = ["complete", "--model", model, ...ONE, "Hi"];
  const piped = await runLlama(complete);
  assert.equal(piped.stdout, " 👋\n", "piped text stays the model's own");
  const chat = await runLlama(["chat", "--model", model, ...ONE, "--no-emoji-names"], {
    stdin: "Hello\n",
  });
  assert.ok(chat.stdout.includes("llama> Hi 👋\n"), chat.stdout);
  if (await ptyAvailable()) {
    const [tty, ttyOff] = await Promise.all([
      runLlama(complete, { tty: true }),
      runLlama([...complete, "--no-emoji-names"], { tty: true }),
    ]);
    assert.ok(tty.stdout.includes(` ${WAVE}\r\n`), tty.stdout);
    assert.ok(ttyOff.stdout.includes(" 👋\r\n"), ttyOff.stdout);
    assert.ok(!ttyOff.stdout.includes("waving_hand"), ttyOff.stdout);
  }
});

Deno.test("missing model folder: the error lists every place searched", async () => {
  const home = await Deno.realPath(await Deno.makeTempDir({ prefix: "llama-bolts-home-" }));
  try {
    // HOME moves, so point deno at its usual cache folder (no package downloads).
    const info = await runDeno(["info", "--json"]);
    const denoDir: string = JSON.parse(info.stdout).denoDir;
    const [flag, env, defaults] = await Promise.all([
      runLlama(["complete", "--model", join(home, "nope"), "Hi"]),
      runLlama(["info"], { env: { LLAMA_MODEL: join(home, "also-nope") } }),
      runLlama(["chat"], { cwd: home, env: { HOME: home, DENO_DIR: denoDir } }),
    ]);
    for (const r of [flag, env, defaults]) {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: expected a model folder holding consolidated\.00\.pth/m);
      assert.match(r.stderr, /llama model download --source meta --model-id Llama3\.1-8B-Instruct/);
      assertNoStackTrace(r);
    }
    assert.ok(flag.stderr.includes(`${join(home, "nope")} (--model)`), flag.stderr);
    assert.ok(env.stderr.includes(`${join(home, "also-nope")} (LLAMA_MODEL)`), env.stderr);
    assert.ok(
      defaults.stderr.includes(join(home, ".llama", "checkpoints", "Llama3.1-8B-Instruct")),
      defaults.stderr,
    );
    assert.ok(
      defaults.stderr.includes(join(home, "models-original", "Meta-Llama-3.1-8B-Instruct")),
      defaults.stderr,
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("live status block: pinned to the top rows, redrawn in place, output layer included", async () => {
  let out = "";
  const write = Deno.stdout.writeSync;
  Deno.stdout.writeSync = (bytes: Uint8Array) => {
    out += new TextDecoder().decode(bytes);
    return bytes.length;
  };
  try {
    const status = new LiveStatus({ terminal: true, paint: painter(false), title: "a title" });
    status.start({ phase: "prefill", generated: 0, limit: 8, promptTokens: 5, nLayers: 2 });
    // The engine reports layers 0..nLayers-1 and then nLayers for the classifier.
    for (const layer of [1, 2, 3]) {
      await new Promise((resolve) => setTimeout(resolve, 60)); // redraws are throttled
      status.update({ layer });
    }
    status.text("some text");
    status.finish();
  } finally {
    Deno.stdout.writeSync = write;
  }
  // Clear the screen, keep rows 1-3 out of the scroll region, start the text on row 4.
  assert.ok(out.startsWith("\x1b[2J\x1b[4;"), JSON.stringify(out));
  // Redraws (finish() also saves and restores the cursor, around releasing the region).
  const frames = out.split("\x1b7").slice(1).map((frame) => frame.split("\x1b8")[0])
    .filter((frame) => frame !== "\x1b[r");
  assert.ok(frames.length >= 5, JSON.stringify(out));
  for (const frame of frames) {
    // Each redraw saves the cursor, rewrites rows 1 to 3 in place, restores the cursor.
    const rows = frame.split("\x1b[").filter((code) => code.endsWith(";1H")).map((code) =>
      code.slice(0, -3)
    );
    assert.deepEqual(rows, ["1", "2", "3"], JSON.stringify(frame));
    const bar = frame.match(/[█░]+/)?.[0] ?? "";
    assert.ok(bar.length > 0 && bar.length <= 80, JSON.stringify(frame));
  }
  assert.ok(out.includes("layer 2/2"), JSON.stringify(out));
  assert.ok(out.includes("output layer"), JSON.stringify(out));
  assert.ok(out.includes("some text"));
  // finish() releases the scroll region.
  assert.ok(out.endsWith("\x1b7\x1b[r\x1b8\n"), JSON.stringify(out));
});

// ---------------------------------------------------------------------------
// deno task demo

Deno.test("demo task --random: writes the model once, runs menu prompts 1 and 6, explains", async () => {
  const cache = await Deno.makeTempDir({ prefix: "llama-bolts-demo-" });
  try {
    // A cached tokenizer, as a second run on a fresh machine would have: no download here.
    await Deno.mkdir(join(cache, "llama3-tokenizer"));
    await Deno.copyFile(
      await tokenizerPath(),
      join(cache, "llama3-tokenizer", "tokenizer.model"),
    );
    const task: string = JSON.parse(await Deno.readTextFile(join(REPO_DIR, "deno.json"))).tasks
      .demo;
    assert.match(task, / tools\/demo\.ts$/);
    const argv = [
      "run",
      ...taskPermissions("demo"),
      join(REPO_DIR, "tools", "demo.ts"),
      "--random",
      ...ONE,
      "--max-tokens",
      "4",
    ];
    const env = { LLAMA_BOLTS_CACHE: cache };
    const first = await runDeno(argv, { env });
    assert.equal(first.code, 0, first.stderr);
    assertNoStackTrace(first);
    assert.match(first.stdout, /wrote a random-weight model in Meta's format/);
    assert.match(first.stdout, /\[Text completion\] Prompt: Hello, my name is\nHello, my name is/);
    assert.match(first.stdout, /\[Chat mode\] .*What is the flag of Turkey\?/);
    assert.match(first.stdout, /random, so the text is meaningless/);
    assert.match(
      first.stdout,
      /llama model download --source meta --model-id Llama3\.1-8B-Instruct/,
    );
    assert.match(first.stdout, /^ +deno task llama$/m);
    assert.deepEqual(statsLines(first.stderr).map((s) => [s.prompt, s.generated]), [
      [1 + await count("Hello, my name is"), 4],
      [await dialog("Answer with only one emoji", "What is the flag of Turkey?"), 4],
    ]);
    const model = join(cache, "demo-tiny");
    const params = JSON.parse(await Deno.readTextFile(join(model, "params.json")));
    assert.equal(params.vocab_size, 128256);
    const weights = await Deno.stat(join(model, "consolidated.00.pth"));

    const second = await runDeno(argv, { env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /reusing the random-weight model/);
    assert.deepEqual((await Deno.stat(join(model, "consolidated.00.pth"))).mtime, weights.mtime);
    assert.equal(second.stdout.split("What happened")[1], first.stdout.split("What happened")[1]);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("demo task: expands the trained model once, completes and chats, explains", async () => {
  const cache = await Deno.makeTempDir({ prefix: "llama-bolts-demo-" });
  try {
    await Deno.mkdir(join(cache, "llama3-tokenizer"));
    await Deno.copyFile(
      await tokenizerPath(),
      join(cache, "llama3-tokenizer", "tokenizer.model"),
    );
    const argv = [
      "run",
      ...taskPermissions("demo"),
      join(REPO_DIR, "tools", "demo.ts"),
      ...ONE,
      "--max-tokens",
      "8",
    ];
    const env = { LLAMA_BOLTS_CACHE: cache };
    const first = await runDeno(argv, { env });
    assert.equal(first.code, 0, first.stderr);
    assertNoStackTrace(first);
    assert.match(first.stdout, /expanded the trained model \(\d+ trained rows/);
    assert.match(first.stdout, /\[Text completion\] Prompt: The history of the city\n/);
    assert.match(first.stdout, /\[Chat mode\] .*Tell me about the weather\./);
    assert.match(first.stdout, /never trained to chat/);
    assert.match(first.stdout, /Brown corpus/);
    assert.match(first.stdout, /perplexity is \d+/);
    assert.match(
      first.stdout,
      /llama model download --source meta --model-id Llama3\.1-8B-Instruct/,
    );
    const generated = statsLines(first.stderr).map((s) => s.generated);
    assert.equal(generated.length, 2, first.stderr);
    assert.ok(generated.every((n) => n >= 1 && n <= 8), String(generated));
    const folders = [...Deno.readDirSync(cache)].map((e) => e.name).filter((n) =>
      n.startsWith("demo-brown-")
    );
    assert.equal(folders.length, 1);
    const model = join(cache, folders[0]);
    const params = JSON.parse(await Deno.readTextFile(join(model, "params.json")));
    assert.equal(params.vocab_size, 128256);
    const weights = await Deno.stat(join(model, "consolidated.00.pth"));

    const second = await runDeno(argv, { env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /reusing the trained model/);
    assert.deepEqual((await Deno.stat(join(model, "consolidated.00.pth"))).mtime, weights.mtime);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
