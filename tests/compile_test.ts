/**
 * `deno task compile` builds one executable with the workers inside. Building
 * needs Deno's `denort` runtime, which `deno compile` downloads; where that is
 * not reachable, point `DENORT_BIN` at a local `denort` binary. Without it
 * that test is skipped; the other, which checks that every worker module is in
 * the task's `--include` list, always runs.
 */

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { PRESETS, writeSyntheticModel } from "../lib/model/synthetic.ts";
import { ensureLlama3Tokenizer } from "../tools/derive_tokenizer.ts";

const denort = Deno.env.get("DENORT_BIN");

Deno.test("compile: the task includes every worker module the program starts", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const tasks = JSON.parse(await Deno.readTextFile(join(root, "deno.json"))).tasks;
  const included = new Set<string>();
  (tasks.compile as string).replace(/--include (\S+)/g, (_, path) => {
    included.add(path);
    return "";
  });
  // Worker modules are named by a URL beside the module that starts them.
  const workers: string[] = [];
  for (const file of walk(join(root, "lib"))) {
    const text = Deno.readTextFileSync(file);
    for (const m of text.matchAll(/new URL\("\.\/(\w+\.ts)", import\.meta\.url\)/g)) {
      workers.push(relative(root, join(dirname(file), m[1])));
    }
  }
  assert.ok(workers.length >= 2, `found ${workers.join(", ")}`);
  for (const worker of workers) assert.ok(included.has(worker), `${worker} not in --include`);
});

function* walk(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

Deno.test({
  name: "compile: the standalone binary runs info and a generation with workers",
  ignore: !denort,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const binary = join(dir, "llama-bolts");
      const root = new URL("..", import.meta.url).pathname;
      const tasks = JSON.parse(await Deno.readTextFile(join(root, "deno.json"))).tasks;
      // The task's own flags, with the output redirected into the temp folder.
      const args = (tasks.compile as string).split(/\s+/).slice(1)
        .map((arg, i, all) => all[i - 1] === "--output" ? binary : arg);
      const build = await new Deno.Command(Deno.execPath(), { args, cwd: root }).output();
      assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));

      const model = join(root, "tests/fixtures/pth/tiny_untied");
      const info = await new Deno.Command(binary, { args: ["info", "--model", model, "--json"] })
        .output();
      assert.equal(info.code, 0, new TextDecoder().decode(info.stderr));
      const parsed = JSON.parse(new TextDecoder().decode(info.stdout));
      assert.ok(parsed.tensors.length > 0);

      // A generation: the worker module must be inside the binary.
      const tiny = join(dir, "tiny");
      await writeSyntheticModel(tiny, PRESETS.tiny.params, {
        seed: 1,
        dtype: "bf16",
        tied: PRESETS.tiny.tied,
        tokenizerPath: await ensureLlama3Tokenizer(),
      });
      const complete = await new Deno.Command(binary, {
        args: ["complete", "--model", tiny, "--threads", "2", "--max-tokens", "4", "--json", "Hi"],
      }).output();
      assert.equal(complete.code, 0, new TextDecoder().decode(complete.stderr));
      const generated = JSON.parse(new TextDecoder().decode(complete.stdout)).tokens.length;
      assert.ok(generated >= 1 && generated <= 4);

      // Converting on 2 threads: the converter's worker module must be inside too.
      const gguf = join(dir, "tiny.gguf");
      const convert = await new Deno.Command(binary, {
        args: ["convert", "--model", tiny, "--out", gguf, "--type", "q8_0", "--threads", "2"],
      }).output();
      assert.equal(convert.code, 0, new TextDecoder().decode(convert.stderr));

      const help = await new Deno.Command(binary, { args: ["--help"] }).output();
      assert.equal(help.code, 0);
      assert.match(new TextDecoder().decode(help.stdout), /Usage: llama/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
