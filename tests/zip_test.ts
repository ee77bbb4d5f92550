/**
 * The zip reader against Python's `zipfile`: for archives written by torch.save and re-packed
 * by Python (ZIP64, comments, compression), every entry's name, method, sizes, offsets and
 * data offset must match what `tools/make_pth_fixtures.py` recorded.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WeightsMemory } from "../lib/tensor/weights_memory.ts";
import { CheckpointError } from "../lib/errors.ts";
import { readZipDirectory, storedEntryBytes, storedEntryOffset } from "../lib/formats/zip.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/pth/", import.meta.url));

interface PyZipEntry {
  name: string;
  method: number;
  size: number;
  compressed_size: number;
  local_header_offset: number;
  data_offset: number;
  crc32: number;
}

const expected = JSON.parse(Deno.readTextFileSync(join(FIXTURES, "expected.json")));
const archives: Array<[string, PyZipEntry[]]> = [
  ...Object.entries(expected.files as Record<string, { zip: PyZipEntry[] }>)
    .map(([file, e]): [string, PyZipEntry[]] => [file, e.zip]),
  ...Object.entries(expected.models as Record<string, { zip: PyZipEntry[] }>)
    .map(([dir, e]): [string, PyZipEntry[]] => [join(dir, "consolidated.00.pth"), e.zip]),
];

function assertMatchesPython(bytes: Uint8Array, path: string, listing: PyZipEntry[]) {
  const entries = readZipDirectory(bytes, path);
  assert.deepEqual(
    entries.map((e) => [e.name, e.method, e.size, e.compressedSize, e.localHeaderOffset, e.crc32]),
    listing.map((e) => [
      e.name,
      e.method,
      e.size,
      e.compressed_size,
      e.local_header_offset,
      e.crc32,
    ]),
  );
  for (const [i, entry] of entries.entries()) {
    if (entry.method === 0) {
      assert.equal(storedEntryOffset(bytes, entry, path), listing[i].data_offset);
    }
  }
}

for (const [file, listing] of archives) {
  Deno.test(`zip: ${file} lists like Python's zipfile`, () => {
    const path = join(FIXTURES, file);
    assertMatchesPython(Deno.readFileSync(path), path, listing);
  });
}

Deno.test("zip: the ZIP64 fixture really uses ZIP64 records and extra fields", () => {
  const bytes = Deno.readFileSync(join(FIXTURES, "zip64.pth"));
  const text = new TextDecoder("latin1").decode(bytes);
  assert.ok(text.includes("PK\x06\x06"), "ZIP64 end record");
  assert.ok(text.includes("PK\x06\x07"), "ZIP64 locator");
  const eocd = text.lastIndexOf("PK\x05\x06");
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(eocd + 16, true), 0xffffffff, "directory offset deferred to ZIP64");
  assert.ok(text.endsWith("repacked by Python zipfile with ZIP64"), "archive comment");
});

Deno.test("zip: stored entry bytes are a view, not a copy", () => {
  const path = join(FIXTURES, "dtypes.pth");
  const bytes = Deno.readFileSync(path);
  const pkl = readZipDirectory(bytes, path).find((e) => e.name.endsWith("data.pkl"))!;
  const data = storedEntryBytes(bytes, pkl, path);
  assert.equal(data.buffer, bytes.buffer);
  assert.equal(data.length, pkl.size);
  assert.deepEqual([...data.subarray(0, 2)], [0x80, 0x02]); // pickle PROTO 2
});

Deno.test("zip: a compressed entry is refused, naming it", () => {
  const path = join(FIXTURES, "deflated.pth");
  const bytes = Deno.readFileSync(path);
  const pkl = readZipDirectory(bytes, path).find((e) => e.name === "dtypes/data.pkl")!;
  assert.equal(pkl.method, 8);
  assert.throws(
    () => storedEntryOffset(bytes, pkl, path),
    (e: unknown) =>
      e instanceof CheckpointError && /"dtypes\/data.pkl" is compressed/.test(e.message) &&
      e.message.includes(path),
  );
});

Deno.test("zip: truncated, empty and non-zip files are refused with the file named", () => {
  const path = join(FIXTURES, "dtypes.pth");
  const bytes = Deno.readFileSync(path);
  const cases: Array<[Uint8Array, RegExp]> = [
    [bytes.slice(0, bytes.length >> 1), /no end-of-central-directory record/],
    [bytes.slice(0, bytes.length - 1), /no end-of-central-directory record/],
    [new Uint8Array(0), /found only 0 bytes/],
    [new TextEncoder().encode('{"dim": 4096}\n'.repeat(10)), /expected a zip archive/],
  ];
  for (const [input, pattern] of cases) {
    assert.throws(
      () => readZipDirectory(input, path),
      (e: unknown) => e instanceof CheckpointError && pattern.test(e.message) && e.path === path,
    );
  }
});

Deno.test("zip: a central directory offset past the end record is refused", () => {
  // torch writes ZIP64 end records even for small files; Python's zipfile writes classic ones.
  for (
    const [file, record, field] of [["dtypes.pth", "PK\x06\x06", 48], [
      "misaligned.pth",
      "PK\x05\x06",
      16,
    ]] as const
  ) {
    const path = join(FIXTURES, file);
    const bytes = Deno.readFileSync(path);
    const at = new TextDecoder("latin1").decode(bytes).lastIndexOf(record);
    assert.ok(at > 0, `${file} has a ${JSON.stringify(record)} record`);
    const view = new DataView(bytes.buffer);
    if (field === 48) view.setBigUint64(at + field, BigInt(bytes.length), true);
    else view.setUint32(at + field, bytes.length, true);
    assert.throws(
      () => readZipDirectory(bytes, path),
      (e: unknown) => e instanceof CheckpointError && /central directory/.test(e.message),
    );
  }
});

Deno.test("zip: a local header pointing past the end of the file is refused", () => {
  const path = join(FIXTURES, "dtypes.pth");
  const bytes = Deno.readFileSync(path);
  const entries = readZipDirectory(bytes, path);
  const last = entries[entries.length - 1];
  const moved = { ...last, localHeaderOffset: bytes.length + 100 };
  assert.throws(
    () => storedEntryOffset(bytes, moved, path),
    (e: unknown) => e instanceof CheckpointError && /end of the file/.test(e.message),
  );
});

// A real > 4 GiB torch.save file (ZIP64 written by torch itself). Too big to commit: write it
// with `tools/make_pth_fixtures.py --big PATH` and run with LLAMA_BOLTS_BIG_PTH=PATH.
const BIG = Deno.env.get("LLAMA_BOLTS_BIG_PTH");
Deno.test({
  name: "zip: a > 4 GiB torch.save archive (ZIP64) lists like Python's zipfile",
  ignore: BIG === undefined,
  fn() {
    const listing = JSON.parse(Deno.readTextFileSync(`${BIG}.json`)).zip as PyZipEntry[];
    assert.ok(listing.some((e) => e.local_header_offset > 2 ** 32), "offsets beyond 4 GiB");
    using weights = WeightsMemory.open([BIG!]);
    const bytes = weights.files[0].bytes;
    const entries = readZipDirectory(bytes, BIG!);
    assert.deepEqual(
      entries.map((e) => [e.name, e.size, e.localHeaderOffset, storedEntryOffset(bytes, e, BIG!)]),
      listing.map((e) => [e.name, e.size, e.local_header_offset, e.data_offset]),
    );
  },
});
