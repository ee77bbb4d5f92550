/**
 * The safetensors reader against files written by `tools/make_hf_fixtures.py` (by hand in
 * Python, with PyTorch's element bits recorded beside them); our writer against that Python
 * writer, byte for byte; and one clear error per kind of broken file or index.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CheckpointError } from "../lib/errors.ts";
import { readSafetensors, type SafetensorsDtype } from "../lib/formats/safetensors.ts";
import {
  checkShardContents,
  parseSafetensorsIndex,
  SAFETENSORS_INDEX_FILE,
  shardPaths,
} from "../lib/formats/safetensors_index.ts";
import { assembleSafetensors, encodeSafetensors } from "../lib/formats/safetensors_writer.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/hf/", import.meta.url));
const DTYPES_PATH = join(FIXTURES, "dtypes.safetensors");
const expected = JSON.parse(Deno.readTextFileSync(join(FIXTURES, "dtypes.json")));

interface ExpectedTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  dataOffsets: [number, number];
  samples: Array<{ index: number; bits: number; value: number }>;
}

/** An element's value from its bits, independently of the engine's kernels. */
function toFloat(dtype: SafetensorsDtype, bits: number): number {
  if (dtype === "BF16") return new Float32Array(Uint32Array.of(bits << 16).buffer)[0];
  if (dtype === "F16") return new Float16Array(Uint16Array.of(bits).buffer)[0];
  return new Float32Array(Uint32Array.of(bits).buffer)[0];
}

Deno.test("safetensors: BF16, F16 and F32 tensors read as PyTorch wrote them", () => {
  const bytes = Deno.readFileSync(DTYPES_PATH);
  const file = readSafetensors(bytes, DTYPES_PATH);
  assert.deepEqual(file.metadata, expected.metadata);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(file.dataOffset, 8 + headerLength);
  assert.equal(file.dataOffset % 8, 0);
  const tensors = expected.tensors as ExpectedTensor[];
  assert.deepEqual([...file.tensors.keys()], tensors.map((t) => t.name)); // file order
  for (const want of tensors) {
    const tensor = file.tensors.get(want.name)!;
    assert.equal(tensor.dtype, want.dtype);
    assert.equal(tensor.type, want.dtype.toLowerCase());
    assert.deepEqual(tensor.shape, want.shape);
    assert.equal(tensor.byteOffset, file.dataOffset + want.dataOffsets[0]);
    assert.equal(tensor.byteLength, want.dataOffsets[1] - want.dataOffsets[0]);
    const view = new DataView(bytes.buffer, tensor.byteOffset, tensor.byteLength);
    for (const { index, bits, value } of want.samples) {
      const found = want.dtype === "F32"
        ? view.getUint32(4 * index, true)
        : view.getUint16(2 * index, true);
      assert.equal(found, bits, `${want.name}[${index}]`);
      assert.equal(toFloat(want.dtype, found), value);
    }
  }
});

Deno.test("safetensors: our writer lays out the same bytes as the Python writer", () => {
  const bytes = Deno.readFileSync(DTYPES_PATH);
  const file = readSafetensors(bytes, DTYPES_PATH);
  // Given in another order: both writers put the widest elements first.
  const entries = [...file.tensors.values()].reverse().map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength),
  })).sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(encodeSafetensors(entries, file.metadata), bytes);
  assert.throws(
    () => encodeSafetensors([{ name: "x", dtype: "F32", shape: [2], data: new Uint8Array(4) }]),
    /expected 8 bytes/,
  );
});

Deno.test("safetensors: every shard of the Hugging Face fixtures parses", () => {
  for (const folder of ["tied/hf", "sharded_untied/hf", "scaling32_f32/hf"]) {
    for (const entry of Deno.readDirSync(join(FIXTURES, folder))) {
      if (!entry.name.endsWith(".safetensors")) continue;
      const path = join(FIXTURES, folder, entry.name);
      const file = readSafetensors(Deno.readFileSync(path), path);
      assert.ok(file.tensors.size > 0);
      assert.equal(file.metadata.format, "pt");
    }
  }
});

/** A file with one header and `dataBytes` of data. */
function fileWith(header: unknown, dataBytes: number): Uint8Array {
  return assembleSafetensors(
    typeof header === "string" ? header : JSON.stringify(header),
    dataBytes,
  );
}

function assertBroken(bytes: Uint8Array, pattern: RegExp) {
  const path = "/models/x/model.safetensors";
  assert.throws(() => readSafetensors(bytes, path), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, pattern);
    assert.equal(e.path, path);
    assert.ok(e.fix);
    return true;
  });
}

const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, end],
});

Deno.test("safetensors: a header length past the end of the file", () => {
  const bytes = fileWith({ a: f32(0, 8) }, 8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
  assertBroken(bytes, /header runs past the end of the file/);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
  assertBroken(bytes, /header length of 9223372036854775808/);
  assertBroken(new Uint8Array(5), /at least 8 bytes, found 5/);
});

Deno.test("safetensors: an invalid JSON header", () => {
  assertBroken(fileWith('{"a": {"dtype": "F32",', 0), /expected a JSON header, found invalid JSON/);
  const bytes = fileWith('{"a": 1}', 0);
  bytes[10] = 0xff; // not UTF-8
  assertBroken(bytes, /invalid JSON/);
  assertBroken(fileWith("[1, 2]", 0), /header to be a JSON object, found \[1,2\]/);
});

Deno.test("safetensors: overlapping offsets", () => {
  assertBroken(
    fileWith({ a: f32(0, 16), b: f32(8, 24) }, 24),
    /tensors "a" and "b" overlap: data bytes \[0, 16\) and \[8, 24\)/,
  );
  // Empty tensors overlap nothing.
  readSafetensors(fileWith({ a: f32(0, 16), e: f32(8, 8, [0]) }, 16), "ok");
});

Deno.test("safetensors: out-of-range offsets", () => {
  assertBroken(fileWith({ a: f32(0, 32) }, 16), /data_offsets \[0, 32\], out of range.*0\.\.16/);
  assertBroken(fileWith({ a: f32(16, 8, [2]) }, 16), /data_offsets \[16, 8\], out of range/);
  assertBroken(
    fileWith({ a: { dtype: "F32", shape: [2], data_offsets: [0, -8] } }, 16),
    /data_offsets \[begin, end\] of whole numbers, found \[0,-8\]/,
  );
});

Deno.test("safetensors: a dtype we do not support is named", () => {
  assertBroken(
    fileWith({ a: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, 8),
    /tensor "a" has dtype "I64" \(not supported\); llama-bolts runs BF16, F16 and F32/,
  );
  assertBroken(
    fileWith({ a: { dtype: "Q4", shape: [1], data_offsets: [0, 8] } }, 8),
    /dtype "Q4" \(an unknown dtype, not supported\)/,
  );
});

Deno.test("safetensors: other malformed entries", () => {
  assertBroken(
    fileWith({ a: f32(0, 12, [2]) }, 12),
    /\(12 bytes\), but shape \[2\] of F32 needs 8/,
  );
  assertBroken(
    fileWith({ a: { dtype: "BF16", shape: [1], data_offsets: [1, 3] } }, 4),
    /starts at byte \d+ of the file, which is not aligned to its 2-byte BF16/,
  );
  assertBroken(fileWith({ a: { ...f32(0, 8), shape: [2.5] } }, 8), /shape of whole numbers/);
  assertBroken(fileWith({ a: [1] }, 0), /"a" to be an object with dtype, shape and data_offsets/);
  assertBroken(fileWith({ a: { shape: [1] } }, 0), /"a" to have a dtype string, found nothing/);
  assertBroken(fileWith({ __metadata__: { n: 1 } }, 0), /"__metadata__"."n" to be a string/);
});

// ---------------------------------------------------------------------------------------------
// The shard index

const SHARDED = join(FIXTURES, "sharded_untied", "hf");

function readIndex(dir = SHARDED) {
  const path = join(dir, SAFETENSORS_INDEX_FILE);
  return parseSafetensorsIndex(Deno.readTextFileSync(path), path);
}

Deno.test("safetensors index: the fixture's shards hold what the index says", () => {
  const index = readIndex();
  assert.deepEqual(index.shards, [
    "model-00003-of-00003.safetensors",
    "model-00001-of-00003.safetensors",
    "model-00002-of-00003.safetensors",
  ]); // first appearance in the (sorted) weight_map: lm_head.weight comes first
  assert.equal(index.weightMap.get("model.norm.weight"), "model-00003-of-00003.safetensors");
  const headers = new Map(
    shardPaths(SHARDED, index).map((path, i) => [
      index.shards[i],
      readSafetensors(Deno.readFileSync(path), path),
    ]),
  );
  checkShardContents(index, headers);
  assert.equal(index.metadata.total_size, 94528);
});

Deno.test("safetensors index: a shard listed in the index but missing", async () => {
  const dir = await Deno.makeTempDir();
  for (const entry of Deno.readDirSync(SHARDED)) {
    if (entry.name !== "model-00002-of-00003.safetensors") {
      await Deno.copyFile(join(SHARDED, entry.name), join(dir, entry.name));
    }
  }
  assert.throws(() => shardPaths(dir, readIndex(dir)), (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(
      e.message,
      /expected shard model-00002-of-00003\.safetensors \(listed in model\.safetensors\.index\.json, one of 3\), found no such file/,
    );
    assert.equal(e.path, join(dir, "model-00002-of-00003.safetensors"));
    assert.match(e.fix!, /download all 3 shards/);
    return true;
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("safetensors index: bad index files and contents disagreeing with it", () => {
  const bad = (json: string, pattern: RegExp) =>
    assert.throws(() => parseSafetensorsIndex(json, "index.json"), pattern);
  bad("{", /expected JSON/);
  bad("{}", /"weight_map" to be an object of tensor name to shard file, found no such key/);
  bad('{"weight_map": {}}', /found it empty/);
  bad('{"weight_map": {"a": "../../etc/x.safetensors"}}', /a \.safetensors file name in the same/);
  bad('{"weight_map": {"a": "model.bin"}}', /\.safetensors file name/);

  const index = parseSafetensorsIndex(
    JSON.stringify({ weight_map: { a: "one.safetensors", b: "two.safetensors" } }),
    "index.json",
  );
  const header = (tensors: string[]) =>
    readSafetensors(
      fileWith(Object.fromEntries(tensors.map((n, i) => [n, f32(8 * i, 8 * i + 8)])), 16),
      "shard",
    );
  assert.throws(
    () =>
      checkShardContents(
        index,
        new Map([["one.safetensors", header(["a"])], ["two.safetensors", header(["c"])]]),
      ),
    /expected tensor "b" in two\.safetensors, as model\.safetensors\.index\.json says, found it in no shard/,
  );
  assert.throws(
    () =>
      checkShardContents(
        index,
        new Map([["one.safetensors", header(["a", "b"])], ["two.safetensors", header(["b"])]]),
      ),
    /tensor "b" is in two shards, one\.safetensors and two\.safetensors/,
  );
});
