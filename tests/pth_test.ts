/**
 * The `.pth` reader against PyTorch: files written by `torch.save` in
 * `tools/make_pth_fixtures.py`, whose dtypes, shapes and sample element values (as bits and as
 * floats) PyTorch recorded in `expected.json`. Broken files are made by patching copies.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WeightsMemory } from "../lib/tensor/weights_memory.ts";
import { CheckpointError } from "../lib/errors.ts";
import { type PthTensor, readPth } from "../lib/formats/pth.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/pth/", import.meta.url));
const expected = JSON.parse(Deno.readTextFileSync(join(FIXTURES, "expected.json")));

/** What PyTorch recorded about one tensor. */
interface TorchTensor {
  name: string;
  dtype: string;
  shape: number[];
  stride: number[];
  storage_offset: number;
  numel: number;
  contiguous: boolean;
  samples: Array<{ index: number; value: number; bits: number }>;
}

/** Decodes one element to a float, independently of the engine's kernels. */
function toFloat(dtype: string, bits: number): number {
  if (dtype === "bf16") return new Float32Array(Uint32Array.of(bits << 16).buffer)[0];
  if (dtype === "f16") return new Float16Array(Uint16Array.of(bits).buffer)[0];
  return new Float32Array(Uint32Array.of(bits).buffer)[0];
}

/** Asserts a tensor matches PyTorch's description, element bits and values included. */
function assertLikeTorch(tensor: PthTensor | undefined, torch: TorchTensor, fileOffset = 0) {
  assert.ok(tensor, `tensor ${torch.name} is present`);
  assert.equal(tensor.name, torch.name);
  assert.equal(tensor.dtype, torch.dtype);
  assert.deepEqual(tensor.shape, torch.shape);
  assert.equal(tensor.data.length, torch.numel);
  assert.equal(tensor.data.byteOffset, fileOffset + tensor.byteOffset);
  for (const { index, value, bits } of torch.samples) {
    const raw: number = tensor.dtype === "f32"
      ? new Uint32Array(tensor.data.buffer, tensor.data.byteOffset + 4 * index, 1)[0]
      : tensor.data[index];
    assert.equal(raw, bits, `${torch.name}[${index}] bits`);
    assert.equal(toFloat(tensor.dtype, raw), value, `${torch.name}[${index}] value`);
  }
}

function readFixture(file: string): Map<string, PthTensor> {
  const path = join(FIXTURES, file);
  return readPth(Deno.readFileSync(path), path);
}

Deno.test("pth: bf16, f16 and f32 tensors read like PyTorch wrote them", () => {
  const torch = expected.files["dtypes.pth"].tensors as TorchTensor[];
  const tensors = readFixture("dtypes.pth");
  assert.deepEqual([...tensors.keys()], torch.map((t) => t.name));
  for (const t of torch) assertLikeTorch(tensors.get(t.name), t);
});

Deno.test("pth: tensors are views into the file; shared storages share bytes", () => {
  const path = join(FIXTURES, "dtypes.pth");
  const file = Deno.readFileSync(path);
  const tensors = readPth(file, path);
  for (const t of tensors.values()) assert.equal(t.data.buffer, file.buffer);
  const torch = new Map(
    (expected.files["dtypes.pth"].tensors as TorchTensor[]).map((t) => [t.name, t]),
  );
  // A slice of another tensor: same storage, element offset from PyTorch's storage_offset().
  for (
    const [view, base] of [["bf16.rows", "bf16.matrix"], ["bf16.row2", "bf16.matrix"], [
      "f32.tail",
      "f32.buffer",
    ]]
  ) {
    const a = tensors.get(view)!;
    const b = tensors.get(base)!;
    const elementBytes = a.data.BYTES_PER_ELEMENT;
    assert.equal(
      a.byteOffset - b.byteOffset,
      (torch.get(view)!.storage_offset - torch.get(base)!.storage_offset) * elementBytes,
    );
    assert.ok(torch.get(view)!.storage_offset > 0);
  }
  // torch.save aligns every storage to 64 bytes in the archive.
  assert.equal(tensors.get("bf16.matrix")!.byteOffset % 64, 0);
});

Deno.test("pth: ZIP64 archive (re-packed by Python) reads the same tensors", () => {
  const torch = expected.files["dtypes.pth"].tensors as TorchTensor[];
  const tensors = readFixture("zip64.pth");
  for (const t of torch) assertLikeTorch(tensors.get(t.name), t);
});

Deno.test("pth: reads from a view at an offset of a SharedArrayBuffer (a weights memory) too", () => {
  const path = join(FIXTURES, "dtypes.pth");
  const bytes = Deno.readFileSync(path);
  const shared = new SharedArrayBuffer(bytes.length + 65536);
  const view = new Uint8Array(shared, 65536, bytes.length);
  view.set(bytes);
  const tensors = readPth(view, path);
  for (const t of tensors.values()) assert.equal(t.data.buffer, shared);
  for (const t of expected.files["dtypes.pth"].tensors as TorchTensor[]) {
    assertLikeTorch(tensors.get(t.name), t, 65536);
  }
});

/** Asserts reading `bytes` fails with a CheckpointError whose message matches and names `path`. */
function assertPthError(bytes: Uint8Array, path: string, pattern: RegExp) {
  assert.throws(
    () => readPth(bytes, path),
    (e: unknown) => {
      if (!(e instanceof CheckpointError)) return false;
      assert.match(e.message, pattern);
      assert.ok(e.message.includes(path), `message names ${path}`);
      return true;
    },
  );
}

Deno.test("pth: a non-contiguous tensor is refused, naming it and its strides", () => {
  const torch = expected.files["noncontiguous.pth"].tensors as TorchTensor[];
  const transposed = torch.find((t) => t.name === "transposed")!;
  assert.equal(transposed.contiguous, false);
  const path = join(FIXTURES, "noncontiguous.pth");
  assertPthError(
    Deno.readFileSync(path),
    path,
    new RegExp(
      `"transposed" is not contiguous: shape \\[${transposed.shape}\\] has strides ` +
        `\\[${transposed.stride}\\]`,
    ),
  );
});

Deno.test("pth: misaligned storage data is refused", () => {
  const path = join(FIXTURES, "misaligned.pth");
  assertPthError(Deno.readFileSync(path), path, /not aligned/);
});

Deno.test("pth: compressed entries are refused", () => {
  const path = join(FIXTURES, "deflated.pth");
  assertPthError(Deno.readFileSync(path), path, /is compressed \(method 8\)/);
});

Deno.test("pth: truncated and non-zip files are refused", () => {
  const path = join(FIXTURES, "dtypes.pth");
  const bytes = Deno.readFileSync(path);
  assertPthError(bytes.slice(0, 1000), path, /expected a zip archive/);
  assertPthError(new TextEncoder().encode("not a checkpoint\n"), path, /expected a zip archive/);
});

/** Where `pattern` first occurs in `bytes`, from `from`. */
function indexOfBytes(bytes: Uint8Array, pattern: Uint8Array, from = 0): number {
  outer: for (let i = from; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

/** Byte string from a string of char codes 0..255. */
const raw = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** A copy of `bytes` with the first occurrence of `from` replaced by `to` (same length). */
function patch(bytes: Uint8Array, from: string, to: string): Uint8Array {
  assert.equal(from.length, to.length);
  const at = indexOfBytes(bytes, raw(from));
  assert.ok(at >= 0, `fixture contains ${JSON.stringify(from)}`);
  const copy = bytes.slice();
  copy.set(raw(to), at);
  return copy;
}

Deno.test("pth: an unknown pickle opcode is refused", () => {
  const path = join(FIXTURES, "dtypes.pth");
  // data.pkl of a plain dict starts with PROTO 2, EMPTY_DICT.
  const bytes = patch(Deno.readFileSync(path), "\x80\x02}", "\x80\x02\xff");
  assertPthError(bytes, path, /unknown pickle opcode 0xff.*data\.pkl/s);
});

Deno.test("pth: an unknown pickle class is refused, naming it", () => {
  const path = join(FIXTURES, "dtypes.pth");
  const bytes = patch(Deno.readFileSync(path), "_rebuild_tensor_v2", "_rebuild_tensor_v9");
  assertPthError(bytes, path, /unsupported class "torch\._utils\._rebuild_tensor_v9"/);
});

Deno.test("pth: an unsupported storage type is refused, naming the tensor", () => {
  const path = join(FIXTURES, "dtypes.pth");
  const bytes = patch(Deno.readFileSync(path), "torch\nHalfStorage", "torch\nByteStorage");
  assertPthError(bytes, path, /tensor "f16.vector" is stored as torch\.ByteStorage/);
});

Deno.test("pth: a missing storage entry is refused", () => {
  const path = join(FIXTURES, "dtypes.pth");
  // Rename the archive's data.pkl folder in the central directory only: storages go missing.
  const bytes = Deno.readFileSync(path);
  const directory = indexOfBytes(bytes, raw("PK\x01\x02"));
  const at = indexOfBytes(bytes, raw("dtypes/data/0"), directory);
  bytes.set(raw("dtypes/data/Z"), at);
  assertPthError(bytes, path, /needs storage entry "dtypes\/data\/0"/);
});

// A real > 4 GiB torch.save file (ZIP64 written by torch). Not committed: write it with
// `tools/make_pth_fixtures.py --big PATH` and run with LLAMA_BOLTS_BIG_PTH=PATH.
const BIG = Deno.env.get("LLAMA_BOLTS_BIG_PTH");
Deno.test({
  name: "pth: a > 4 GiB torch.save file maps and reads like PyTorch wrote it",
  ignore: BIG === undefined,
  fn() {
    const torch = JSON.parse(Deno.readTextFileSync(`${BIG}.json`)).tensors as TorchTensor[];
    using weights = WeightsMemory.open([BIG!]);
    const tensors = readPth(weights.files[0].bytes, BIG!);
    for (const t of torch) assertLikeTorch(tensors.get(t.name), t);
    assert.ok(tensors.get("small.after")!.byteOffset > 2 ** 32);
  },
});
