/**
 * The command line against hostile or careless use: output paths that cannot be written
 * (checked before the model loads), `--model` values that are no folder, too many threads,
 * and Ctrl+C (stats, exit code 130, no file or temporary left behind). Each runs the real
 * program as a subprocess.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { randomModelDir, REPO_DIR, runLlama, taskPermissions } from "./helpers/cli_model.ts";

async function withTempDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "llama-bolts-cli-hostile-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("--logits-out to a missing folder or a folder: one line, before the model loads", async () => {
  const model = await randomModelDir();
  await withTempDir(async (dir) => {
    for (
      const [target, pattern] of [
        [join(dir, "no-such-folder", "l.f32"), /--logits-out: expected the folder .* to exist/],
        [dir, /--logits-out: expected a file name, found a folder/],
      ] as const
    ) {
      const r = await runLlama(["complete", "--model", model, "--logits-out", target, "Hi"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /loading|\bat \S+:\d+:\d+/, "no load, no stack trace");
    }
  });
});

Deno.test("--model /dev/null and --model '' say what is wrong", async () => {
  const dev = await runLlama(["complete", "--model", "/dev/null", "Hi"]);
  assert.equal(dev.code, 1);
  assert.match(dev.stderr, /--model: expected a model folder, found a device/);
  assert.doesNotMatch(dev.stderr, /allow-all/);
  const empty = await runLlama(["complete", "--model", "", "Hi"]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /--model: expected a model folder, found an empty value/);
  assert.doesNotMatch(empty.stderr, /searched/);
});

Deno.test("--threads above the core count: a one-line warning, capped", async () => {
  const cores = navigator.hardwareConcurrency;
  const r = await runLlama([
    "complete",
    "--model",
    await randomModelDir(),
    "--threads",
    "256",
    "--max-tokens",
    "2",
    "Hi",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split("\n").filter((line) => line.startsWith("warning:"));
  assert.deepEqual(warnings, [
    `warning: --threads 256 is more than the ${cores} core(s) here; using ${cores}`,
  ]);
  assert.match(r.stderr, new RegExp(`, ${cores} thread\\(s\\)`));
});

/**
 * Starts `main.ts` with `args`, sends SIGINT once `ready` matches its stdout or its stderr,
 * and waits for it to end.
 */
async function interruptWhen(
  args: string[],
  ready: { stdout?: RegExp; stderr?: RegExp },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...taskPermissions(args[0] === "make-model" ? "make-model" : "llama"),
      join(REPO_DIR, "main.ts"),
      ...args,
    ],
    env: { LLAMA_MODEL: "", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).spawn();
  const decoder = new TextDecoder();
  const seen = { stdout: "", stderr: "" };
  let sent = false;
  const read = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    for await (const chunk of stream) {
      seen[key] += decoder.decode(chunk, { stream: true });
      if (!sent && ready[key]?.test(seen[key])) {
        sent = true;
        child.kill("SIGINT");
      }
    }
  };
  await Promise.all([read(child.stdout, "stdout"), read(child.stderr, "stderr")]);
  const { code } = await child.status;
  assert.ok(sent, `never saw the cue in ${seen.stderr}`);
  return { code, ...seen };
}

Deno.test("Ctrl+C during complete: stats, exit 130, no logits file or temporary", async () => {
  const model = await randomModelDir();
  await withTempDir(async (dir) => {
    const logits = join(dir, "logits.f32");
    // A long generation; its first text on stdout is the cue to interrupt it.
    const r = await interruptWhen(
      ["complete", "--model", model, "--max-tokens", "6000", "--logits-out", logits, "Hi"],
      { stdout: /./ },
    );
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /stopped by Ctrl\+C/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [], "nothing left behind");
  });
});

Deno.test("Ctrl+C during make-model: exit 130, no half-written checkpoint", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "model");
    const r = await interruptWhen(
      // The first progress line (10 %) says the checkpoint is half-written.
      ["make-model", "--preset", "1b", "--out", out],
      { stderr: /%/ },
    );
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted \(removed 1 unfinished file\(s\)\)/);
    const left = (() => {
      try {
        return [...Deno.readDirSync(out)].map((e) => e.name);
      } catch {
        return [];
      }
    })();
    assert.deepEqual(left, [], `left behind: ${left}`);
  });
});
