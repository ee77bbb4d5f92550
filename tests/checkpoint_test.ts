/**
 * Loading a Meta-format model folder against PyTorch: two tiny Llama 3 folders written by
 * `tools/make_pth_fixtures.py` (with and without `output.weight`), whose tensor names, dtypes,
 * shapes and sample values PyTorch recorded. Broken folders are built in a temp dir.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CheckpointError, ConfigError, type LlamaError } from "../lib/errors.ts";
import { type Checkpoint, loadCheckpoint, type WeightTensor } from "../lib/model/checkpoint.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/pth/", import.meta.url));
const expected = JSON.parse(Deno.readTextFileSync(join(FIXTURES, "expected.json")));

interface TorchTensor {
  name: string;
  dtype: string;
  shape: number[];
  numel: number;
  samples: Array<{ index: number; value: number; bits: number }>;
}

function toFloat(dtype: string, bits: number): number {
  if (dtype === "bf16") return new Float32Array(Uint32Array.of(bits << 16).buffer)[0];
  if (dtype === "f16") return new Float16Array(Uint16Array.of(bits).buffer)[0];
  return new Float32Array(Uint32Array.of(bits).buffer)[0];
}

function assertLikeTorch(checkpoint: Checkpoint, tensor: WeightTensor, torch: TorchTensor) {
  assert.equal(tensor.type, torch.dtype, torch.name);
  assert.deepEqual(tensor.shape, torch.shape, torch.name);
  const elementBytes = tensor.type === "f32" ? 4 : 2;
  assert.equal(tensor.byteLength, torch.numel * elementBytes, torch.name);
  const view = new DataView(checkpoint.weights.buffer, tensor.byteOffset, tensor.byteLength);
  for (const { index, value, bits } of torch.samples) {
    const raw = elementBytes === 4
      ? view.getUint32(4 * index, true)
      : view.getUint16(2 * index, true);
    assert.equal(raw, bits, `${torch.name}[${index}]`);
    assert.equal(toFloat(tensor.type, raw), value, `${torch.name}[${index}]`);
  }
}

for (const [dir, preferMmap] of [["tiny_untied", true], ["tiny_tied", false]] as const) {
  Deno.test(`checkpoint: ${dir} (${preferMmap ? "mapped" : "read"}) loads like PyTorch saved it`, () => {
    const model = expected.models[dir];
    using checkpoint = loadCheckpoint(join(FIXTURES, dir), { preferMmap });
    assert.equal(checkpoint.path, join(FIXTURES, dir).replace(/\/$/, ""));
    assert.equal(checkpoint.format, "meta");
    assert.equal(checkpoint.weights.mapped, preferMmap);
    assert.equal(checkpoint.tiedEmbeddings, model.derived.tied_embeddings);
    assert.equal(checkpoint.config.hiddenDim, model.derived.hidden_dim);
    assert.deepEqual(checkpoint.config.params, model.params);
    const torch = model.tensors as TorchTensor[];
    assert.deepEqual([...checkpoint.tensors.keys()], torch.map((t) => t.name));
    for (const t of torch) {
      const tensor = checkpoint.tensor(t.name);
      assertLikeTorch(checkpoint, tensor, t);
      // Every tensor lies inside the file's place in the weights memory.
      const file = checkpoint.weights.files[0];
      assert.ok(tensor.byteOffset >= file.byteOffset);
      assert.ok(tensor.byteOffset + tensor.byteLength <= file.byteOffset + file.byteLength);
    }
  });
}

Deno.test("checkpoint: extra tensors are kept; tied models have no output.weight", () => {
  using untied = loadCheckpoint(join(FIXTURES, "tiny_untied"));
  assert.equal(untied.tiedEmbeddings, false);
  assert.equal(untied.tensor("rope.freqs").type, "f32");
  assert.deepEqual(untied.tensor("output.weight").shape, [64, 32]);

  using tied = loadCheckpoint(join(FIXTURES, "tiny_tied"));
  assert.equal(tied.tiedEmbeddings, true);
  assert.equal(tied.tensors.has("output.weight"), false);
  assert.throws(
    () => tied.tensor("output.weight"),
    (e: unknown) =>
      e instanceof CheckpointError && /"output.weight"/.test(e.message) &&
      /tok_embeddings/.test(e.message),
  );
});

Deno.test("checkpoint: close() releases the file once", () => {
  const checkpoint = loadCheckpoint(join(FIXTURES, "tiny_tied"));
  checkpoint.close();
  checkpoint.close();
  assert.throws(() => checkpoint.weights.buffer);
});

/** A temp copy of a fixture folder, changed by `edit`. */
function brokenFolder(edit: (dir: string) => void, from = "tiny_untied"): string {
  const dir = Deno.makeTempDirSync({ prefix: "llama-bolts-checkpoint-" });
  for (const name of ["params.json", "consolidated.00.pth"]) {
    Deno.copyFileSync(join(FIXTURES, from, name), join(dir, name));
  }
  edit(dir);
  return dir;
}

function editParams(dir: string, change: (params: Record<string, unknown>) => void) {
  const path = join(dir, "params.json");
  const params = JSON.parse(Deno.readTextFileSync(path));
  change(params);
  Deno.writeTextFileSync(path, JSON.stringify(params));
}

function assertLoadError(
  dir: string,
  type: typeof CheckpointError | typeof ConfigError,
  pattern: RegExp,
  file?: string,
) {
  try {
    assert.throws(
      () => loadCheckpoint(dir),
      (e: unknown) => {
        assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
        assert.match((e as LlamaError).message, pattern);
        const path = file === undefined ? dir : join(dir, file);
        assert.ok((e as LlamaError).message.includes(path), `message names ${path}`);
        return true;
      },
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("checkpoint: a missing folder is named", () => {
  const dir = Deno.makeTempDirSync();
  const missing = join(dir, "nope");
  assert.throws(
    () => loadCheckpoint(missing),
    (e: unknown) =>
      e instanceof CheckpointError && /expected a model folder/.test(e.message) &&
      e.message.includes(missing),
  );
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("checkpoint: a missing params.json is named", () => {
  const dir = brokenFolder((d) => Deno.removeSync(join(d, "params.json")));
  assertLoadError(dir, ConfigError, /expected params.json/, "params.json");
});

Deno.test("checkpoint: a missing consolidated.00.pth is named", () => {
  const dir = brokenFolder((d) => Deno.removeSync(join(d, "consolidated.00.pth")));
  assertLoadError(dir, CheckpointError, /expected consolidated.00.pth/, "consolidated.00.pth");
});

Deno.test("checkpoint: a missing params.json key is named", () => {
  const dir = brokenFolder((d) => editParams(d, (p) => delete p.n_heads));
  assertLoadError(dir, ConfigError, /"n_heads" to be a positive integer/, "params.json");
});

Deno.test("checkpoint: an invalid params.json value is named", () => {
  const dir = brokenFolder((d) => editParams(d, (p) => p.dim = "32"));
  assertLoadError(dir, ConfigError, /"dim" to be a positive integer, found "32"/, "params.json");
});

Deno.test("checkpoint: the first tensor whose shape disagrees is named", () => {
  // 4 kv heads instead of 2: wk is the first tensor of layer 0 that no longer fits.
  const dir = brokenFolder((d) => editParams(d, (p) => p.n_kv_heads = 4));
  assertLoadError(
    dir,
    ConfigError,
    /"layers.0.attention.wk.weight" disagrees with params.json: expected shape \[32, 32\], found \[16, 32\]/,
    "consolidated.00.pth",
  );
});

Deno.test("checkpoint: a tensor the config needs but the file lacks is named", () => {
  const dir = brokenFolder((d) => editParams(d, (p) => p.n_layers = 3));
  assertLoadError(
    dir,
    CheckpointError,
    /expected 3 layers \(params\.json's n_layers\), found tensors of 2: no tensor "layers\.2\.attention\.wq\.weight"/,
    "consolidated.00.pth",
  );
});

Deno.test("checkpoint: a truncated consolidated.00.pth is refused", () => {
  const dir = brokenFolder((d) => {
    const path = join(d, "consolidated.00.pth");
    Deno.truncateSync(path, Deno.statSync(path).size - 100);
  });
  assertLoadError(dir, CheckpointError, /expected a zip archive/, "consolidated.00.pth");
});

Deno.test("checkpoint: a consolidated.00.pth that is not a zip is refused", () => {
  const dir = brokenFolder((d) => {
    Deno.writeTextFileSync(join(d, "consolidated.00.pth"), "<html>404 Not Found</html>\n");
  });
  assertLoadError(dir, CheckpointError, /expected a zip archive/, "consolidated.00.pth");
});

Deno.test("checkpoint: a sharded checkpoint is refused", () => {
  const dir = brokenFolder((d) => {
    Deno.copyFileSync(join(d, "consolidated.00.pth"), join(d, "consolidated.01.pth"));
  });
  assertLoadError(dir, CheckpointError, /single-shard/);
});
