/**
 * The `info` command against PyTorch's numbers for the tiny fixture models: tensor list,
 * params.json, derived sizes and parameter count (the sum of `numel()` PyTorch computed).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeCheckpoint, runInfo } from "../lib/cli/info.ts";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/pth/", import.meta.url));
const expected = JSON.parse(Deno.readTextFileSync(join(FIXTURES, "expected.json")));

for (const dir of ["tiny_untied", "tiny_tied"]) {
  const model = expected.models[dir];

  Deno.test(`info --json: ${dir} matches PyTorch`, () => {
    using checkpoint = loadCheckpoint(join(FIXTURES, dir));
    const info = JSON.parse(runInfo(checkpoint, { json: true }));
    assert.deepEqual(Object.keys(info), ["tensors", "params", "derived"]);
    assert.deepEqual(
      info.tensors,
      model.tensors.map((t: { name: string; dtype: string; shape: number[] }) => ({
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
      })),
    );
    assert.deepEqual(info.params, model.params);
    const { max_context, ...derived } = info.derived;
    assert.deepEqual(derived, model.derived);
    assert.equal(max_context, 131072); // use_scaled_rope: true
    assert.deepEqual(describeCheckpoint(checkpoint), info);
  });

  Deno.test(`info: ${dir} reads as text with every tensor, param and derived value`, () => {
    using checkpoint = loadCheckpoint(join(FIXTURES, dir));
    const text = runInfo(checkpoint, { json: false });
    assert.match(text, /^model metadata: /);
    for (const t of model.tensors) {
      const row = new RegExp(
        `^  ${t.name.replaceAll(".", "\\.")} +${t.dtype} +\\[${t.shape.join(", ")}\\]$`,
        "m",
      );
      assert.match(text, row);
    }
    for (const [key, value] of Object.entries(model.params)) {
      assert.match(text, new RegExp(`^  ${key} +${JSON.stringify(value)}$`, "m"));
    }
    const d = model.derived;
    assert.match(text, new RegExp(`^  head_dim +${d.head_dim} `, "m"));
    assert.match(text, new RegExp(`^  kv_dim +${d.kv_dim} `, "m"));
    assert.match(text, new RegExp(`^  hidden_dim +${d.hidden_dim} `, "m"));
    assert.match(text, new RegExp(`^  n_rep +${d.n_rep} `, "m"));
    assert.match(text, new RegExp(`^  tied_embeddings +${d.tied_embeddings ? "yes" : "no"}`, "m"));
    const grouped = d.parameter_count.toLocaleString("en-US");
    assert.match(text, new RegExp(`^  parameter_count +${grouped} +\\(`, "m"));
    assert.match(text, new RegExp(`^  size +${d.size_bytes.toLocaleString("en-US")} bytes`, "m"));
    assert.match(text, new RegExp(`^tensors \\(${model.tensors.length}\\):$`, "m"));
  });
}
