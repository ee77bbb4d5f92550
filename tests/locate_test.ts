/**
 * Finding the model folder: `--model`, then `LLAMA_MODEL`, then Meta's download folder, then
 * the seed project's folder; a folder counts when it holds `consolidated.00.pth`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError, UsageError } from "../lib/errors.ts";
import { locateModelDir } from "../lib/cli/locate.ts";

/** A temp home and working folder, with model folders created on demand. */
function sandbox() {
  const root = Deno.makeTempDirSync({ prefix: "llama-bolts-locate-" });
  const home = join(root, "home");
  const cwd = join(root, "work");
  Deno.mkdirSync(home);
  Deno.mkdirSync(cwd);
  const meta = join(home, ".llama", "checkpoints", "Llama3.1-8B-Instruct");
  const seed = join(cwd, "models-original", "Meta-Llama-3.1-8B-Instruct");
  const model = (dir: string, withWeights = true) => {
    Deno.mkdirSync(dir, { recursive: true });
    if (withWeights) Deno.writeFileSync(join(dir, "consolidated.00.pth"), new Uint8Array());
    return dir;
  };
  const env = (vars: Record<string, string> = {}) => (name: string) => vars[name];
  return {
    root,
    home,
    cwd,
    meta,
    seed,
    model,
    env,
    [Symbol.dispose]: () => Deno.removeSync(root, { recursive: true }),
  };
}

function assertNotFound(fn: () => unknown, searched: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    for (const place of searched) assert.ok(e.message.includes(place), `lists ${place}`);
    assert.match(e.message, /llama model download --source meta --model-id Llama3\.1-8B-Instruct/);
    assert.match(e.message, /~\/\.llama\/checkpoints\/Llama3\.1-8B-Instruct\//);
    return true;
  });
}

Deno.test("locate: --model wins over everything else", () => {
  using s = sandbox();
  const chosen = s.model(join(s.root, "chosen"));
  s.model(s.meta);
  s.model(s.seed);
  const env = s.env({ LLAMA_MODEL: s.meta });
  assert.equal(locateModelDir(chosen, { env, home: s.home, cwd: s.cwd }), chosen);
  // Relative to the working folder, "~/" expanded, or the .pth file itself.
  s.model(join(s.cwd, "rel"));
  assert.equal(locateModelDir("rel", { env, home: s.home, cwd: s.cwd }), join(s.cwd, "rel"));
  const inHome = s.model(join(s.home, "models", "m"));
  assert.equal(locateModelDir("~/models/m", { env, home: s.home, cwd: s.cwd }), inHome);
  assert.equal(
    locateModelDir(join(chosen, "consolidated.00.pth"), { env, home: s.home, cwd: s.cwd }),
    chosen,
  );
});

Deno.test("locate: a wrong --model is an error, not a fall-back", () => {
  using s = sandbox();
  s.model(s.meta);
  const empty = s.model(join(s.root, "empty"), false);
  assertNotFound(
    () => locateModelDir(empty, { env: s.env(), home: s.home, cwd: s.cwd }),
    [`${empty} (--model)`],
  );
});

Deno.test("locate: LLAMA_MODEL comes next", () => {
  using s = sandbox();
  const fromEnv = s.model(join(s.root, "env-model"));
  s.model(s.meta);
  const env = s.env({ LLAMA_MODEL: fromEnv });
  assert.equal(locateModelDir(undefined, { env, home: s.home, cwd: s.cwd }), fromEnv);
  // An empty --model (an unset shell variable) is an error, not a silent search elsewhere.
  assert.throws(
    () => locateModelDir("", { env, home: s.home, cwd: s.cwd }),
    (e: unknown) => e instanceof UsageError && /--model: .*found an empty value/.test(e.message),
  );
  const missing = join(s.root, "missing");
  assertNotFound(
    () =>
      locateModelDir(undefined, { env: s.env({ LLAMA_MODEL: missing }), home: s.home, cwd: s.cwd }),
    [`${missing} (LLAMA_MODEL)`],
  );
});

Deno.test("locate: then Meta's download folder, then the seed project's folder", () => {
  using s = sandbox();
  const options = { env: s.env(), home: s.home, cwd: s.cwd };
  assertNotFound(() => locateModelDir(undefined, options), [s.meta, s.seed]);
  s.model(s.seed);
  assert.equal(locateModelDir(undefined, options), s.seed);
  s.model(s.meta, false); // a folder without consolidated.00.pth does not count
  assert.equal(locateModelDir(undefined, options), s.seed);
  s.model(s.meta);
  assert.equal(locateModelDir(undefined, options), s.meta);
});

Deno.test("locate: reads LLAMA_MODEL and HOME from the real environment by default", () => {
  using s = sandbox();
  const saved = { model: Deno.env.get("LLAMA_MODEL"), home: Deno.env.get("HOME") };
  try {
    Deno.env.delete("LLAMA_MODEL");
    Deno.env.set("HOME", s.home);
    s.model(s.meta);
    assert.equal(locateModelDir(), s.meta);
    const other = s.model(join(s.root, "other"));
    Deno.env.set("LLAMA_MODEL", other);
    assert.equal(locateModelDir(), other);
  } finally {
    if (saved.model === undefined) Deno.env.delete("LLAMA_MODEL");
    else Deno.env.set("LLAMA_MODEL", saved.model);
    if (saved.home === undefined) Deno.env.delete("HOME");
    else Deno.env.set("HOME", saved.home);
  }
});

Deno.test("locate: a device or a file given as the folder is named as such", () => {
  using s = sandbox();
  const env = s.env({});
  for (const [path, kind] of [["/dev/null", "a device"], [join(s.root, "f.txt"), "a file"]]) {
    if (kind === "a file") Deno.writeTextFileSync(path, "x");
    assert.throws(
      () => locateModelDir(path, { env, home: s.home, cwd: s.cwd }),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.message.includes(`expected a model folder, found ${kind}`),
    );
  }
});
