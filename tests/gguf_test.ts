/**
 * The GGUF reader and writer: every metadata value type through a file and back, tensor infos
 * (innermost dimension first in the file, outermost first in memory), alignment, and one clear
 * error for each kind of bad input, found without a huge allocation or a long loop.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError } from "../lib/errors.ts";
import { readGguf } from "../lib/formats/gguf.ts";
import { ggmlType } from "../lib/formats/gguf_types.ts";
import { gguf, layoutGguf, writeGgufFile } from "../lib/formats/gguf_writer.ts";

const PATH = "/test/model.gguf";

/** A small valid file: two tensors and one of each metadata kind. */
function smallFile(): Uint8Array {
  const layout = layoutGguf(
    [["general.architecture", gguf.string("llama")], ["n", gguf.uint32(7)]],
    [
      { name: "a", type: ggmlType("F32"), shape: [2, 3] },
      { name: "b", type: ggmlType("F16"), shape: [5] },
    ],
  );
  const file = new Uint8Array(layout.fileBytes);
  file.set(layout.header);
  return file;
}

function failsWith(bytes: Uint8Array, pattern: RegExp): void {
  const started = performance.now();
  assert.throws(() => readGguf(bytes, PATH), (error: unknown) => {
    assert.ok(error instanceof CheckpointError, String(error));
    assert.match(error.message, pattern);
    assert.ok(error.message.includes(PATH), "the message names the file");
    return true;
  });
  assert.ok(performance.now() - started < 1000, "bad input fails fast");
}

/** Byte offset of the first occurrence of `text` (ASCII) in `bytes`. */
function find(bytes: Uint8Array, text: string): number {
  const needle = new TextEncoder().encode(text);
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let k = 0; k < needle.length; k++) if (bytes[i + k] !== needle[k]) continue outer;
    return i;
  }
  throw new Error(`"${text}" not found`);
}

Deno.test("gguf: every metadata value type is written and read back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gguf-" });
  const path = join(dir, "values.gguf");
  const metadata = [
    ["u8", gguf.array("uint8", [0, 255])],
    ["i8", { type: "int8", value: -128 }],
    ["u16", { type: "uint16", value: 65535 }],
    ["i16", { type: "int16", value: -32768 }],
    ["u32", gguf.uint32(0xffffffff)],
    ["i32", gguf.int32(-1)],
    ["f32", gguf.float32(0.1)],
    ["bool", gguf.bool(true)],
    ["string", gguf.string("Ġhello 👋")],
    ["u64", gguf.uint64(2n ** 63n)],
    ["i64", { type: "int64", value: -5 }],
    ["f64", { type: "float64", value: Math.PI }],
    ["strings", gguf.array("string", ["a", "", "Ġb", "x".repeat(300)])],
    ["bools", gguf.array("bool", [true, false])],
    ["floats", gguf.array("float32", new Float32Array([1.5, -2]))],
    ["empty", gguf.array("int32", [])],
  ] as const;
  await writeGgufFile(path, metadata, [
    {
      name: "m",
      type: ggmlType("F32"),
      shape: [2, 3],
      chunks: () => [new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer)],
    },
    {
      name: "v",
      type: ggmlType("BF16"),
      shape: [3],
      chunks: () => [new Uint8Array([0x80, 0x3f, 0, 0x40, 0x40, 0x40])],
    },
  ], { alignment: 64 });
  const bytes = await Deno.readFile(path);
  const file = readGguf(bytes, path);
  assert.equal(file.version, 3);
  assert.equal(file.alignment, 64);
  const value = (key: string) => file.metadata.get(key)!.value;
  assert.deepEqual([...(value("u8") as Uint8Array)], [0, 255]);
  assert.equal(value("i8"), -128);
  assert.equal(value("u16"), 65535);
  assert.equal(value("i16"), -32768);
  assert.equal(value("u32"), 0xffffffff);
  assert.equal(value("i32"), -1);
  assert.equal(value("f32"), Math.fround(0.1));
  assert.equal(value("bool"), true);
  assert.equal(value("string"), "Ġhello 👋");
  assert.equal(value("u64"), 2n ** 63n);
  assert.equal(value("i64"), -5);
  assert.equal(value("f64"), Math.PI);
  assert.deepEqual(value("strings"), ["a", "", "Ġb", "x".repeat(300)]);
  assert.deepEqual(value("bools"), [true, false]);
  assert.deepEqual([...(value("floats") as Float32Array)], [1.5, -2]);
  assert.equal((value("empty") as Int32Array).length, 0);
  assert.equal(file.metadata.get("general.alignment")?.type, "uint32");

  // Shapes outermost first; offsets aligned; the bytes are where the infos say.
  const m = file.tensors.get("m")!, v = file.tensors.get("v")!;
  assert.deepEqual(m.shape, [2, 3]);
  assert.equal(m.type.name, "F32");
  assert.equal(file.dataOffset % 64, 0);
  assert.equal((v.byteOffset - file.dataOffset) % 64, 0);
  const floats = new Float32Array(bytes.slice(m.byteOffset, m.byteOffset + m.byteLength).buffer);
  assert.deepEqual([...floats], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...bytes.subarray(v.byteOffset, v.byteOffset + 6)], [
    0x80,
    0x3f,
    0,
    0x40,
    0x40,
    0x40,
  ]);
  // ne[0] (the row length, 3) comes first in the file.
  const info = find(bytes, "\x01\0\0\0\0\0\0\0m\x02") + 9;
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(info, true), 2);
  assert.equal(view.getBigUint64(info + 4, true), 3n);
  assert.equal(view.getBigUint64(info + 12, true), 2n);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("gguf writer: a source of the wrong size leaves no file behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gguf-" });
  const path = join(dir, "bad.gguf");
  await assert.rejects(
    writeGgufFile(path, [], [
      { name: "m", type: ggmlType("F32"), shape: [4], chunks: () => [new Uint8Array(12)] },
    ]),
    /expected 16 bytes of data, its source gave 12/,
  );
  assert.deepEqual([...Deno.readDirSync(dir)], []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("gguf bad input: truncated file", () => {
  const file = smallFile();
  failsWith(file.subarray(0, 30), /truncated or damaged: the tensor count \(2\) needs at least/);
  failsWith(file.subarray(0, 6), /truncated: reading the version at byte 4 needs 4 bytes/);
  failsWith(file.subarray(0, 100), /truncated: reading .* at byte \d+ needs \d+ bytes/);
});

Deno.test("gguf bad input: bad magic", () => {
  const file = smallFile();
  file.set(new TextEncoder().encode("PK\x03\x04"), 0);
  failsWith(file, /expected a GGUF file \(starting with "GGUF"\), found 50 4b 03 04/);
  failsWith(new Uint8Array(0), /found an empty file/);
});

Deno.test("gguf bad input: unsupported version", () => {
  const file = smallFile();
  new DataView(file.buffer).setUint32(4, 1, true);
  failsWith(file, /expected GGUF version 2 or 3, found version 1/);
  new DataView(file.buffer).setUint32(4, 3, false);
  failsWith(file, /big-endian/);
  new DataView(file.buffer).setUint32(4, 2, true); // version 2 has the same layout
  assert.equal(readGguf(file, PATH).version, 2);
});

Deno.test("gguf bad input: a tensor past the end of the file", () => {
  const file = smallFile();
  failsWith(file.subarray(0, file.length - 2), /tensor "b" lies past the end of the file/);
});

Deno.test("gguf bad input: unknown tensor type, named", () => {
  const file = smallFile();
  // The type field follows the name "b", its dimension count and one dimension.
  const type = find(file, "b\x01") + 1 + 4 + 8;
  new DataView(file.buffer).setUint32(type, 99, true);
  failsWith(file, /tensor "b" has unknown ggml type id 99/);
});

Deno.test("gguf bad input: misaligned data", () => {
  const file = smallFile();
  const offset = find(file, "b\x01") + 1 + 4 + 8 + 4;
  const view = new DataView(file.buffer);
  view.setBigUint64(offset, view.getBigUint64(offset, true) + 2n, true);
  failsWith(
    file,
    /tensor "b" is misaligned: its data offset \d+ is not a multiple of the alignment 32/,
  );
});

Deno.test("gguf bad input: absurd array length or string size, no huge allocation", () => {
  const layout = layoutGguf([["tokens", gguf.array("string", ["a", "b"])]], []);
  const view = new DataView(layout.header.buffer);
  const count = find(layout.header, "tokens") + 6 + 4 + 4;
  const absurd = new Uint8Array(layout.header);
  new DataView(absurd.buffer).setBigUint64(count, 2n ** 40n, true);
  failsWith(absurd, /the length of array "tokens" \(1099511627776\) needs at least/);
  const huge = new Uint8Array(layout.header);
  new DataView(huge.buffer).setBigUint64(count, 2n ** 62n, true);
  failsWith(huge, /absurdly large/);
  // The first string's length.
  const string = new Uint8Array(layout.header);
  new DataView(string.buffer).setBigUint64(count + 8, 2n ** 31n, true);
  failsWith(string, /string length of item 0 of "tokens" \(2147483648\) runs past the end/);
  // A metadata count far beyond what the file could hold.
  const kv = new Uint8Array(layout.header);
  new DataView(kv.buffer).setBigUint64(16, 2n ** 50n, true);
  failsWith(kv, /the metadata count \(\d+\) needs at least/);
  void view;
});

Deno.test("gguf bad input: unknown metadata value type", () => {
  const layout = layoutGguf([["x", gguf.uint32(1)]], []);
  const bytes = new Uint8Array(layout.header);
  new DataView(bytes.buffer).setUint32(find(bytes, "x") + 1, 42, true);
  failsWith(bytes, /metadata "x" has unknown value type 42/);
});
