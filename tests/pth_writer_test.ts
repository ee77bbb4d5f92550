/**
 * Tests of the `.pth` writer: CRC-32 against node:zlib, pickle bytes against
 * CPython's, whole files against checkpoints written by real PyTorch
 * (tests/fixtures/pth, made by tools/make_pth_fixtures.py with torch 1.13), and
 * round trips through our reader (lib/formats/pth.ts, itself tested against
 * those fixtures).
 */

import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { join } from "node:path";
import { CheckpointError } from "../lib/errors.ts";
import { crc32, crc32Update } from "../lib/formats/crc32.ts";
import { dumpPickle, PyDict, PyGlobal, PyReduce, PyStr } from "../lib/formats/pickle_writer.ts";
import { readPth } from "../lib/formats/pth.ts";
import { type InMemoryTensor, PthWriter, writePth } from "../lib/formats/pth_writer.ts";
import { readZipDirectory, storedEntryBytes, storedEntryOffset } from "../lib/formats/zip.ts";
import { ZipWriter } from "../lib/formats/zip_writer.ts";

const FIXTURES = new URL("./fixtures/pth/", import.meta.url).pathname;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(bytes: Uint8Array): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice())));
}

/** Deterministic pseudo-random bytes (not the code under test). */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pth_writer_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads a .pth file with our reader; returns its tensors as plain records. */
function readBack(path: string) {
  const bytes = Deno.readFileSync(path);
  const tensors = readPth(bytes, path);
  return [...tensors.values()].map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: [...t.shape],
    byteOffset: t.byteOffset,
    bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice(),
  }));
}

function bytesOf(t: InMemoryTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** A varied set of tensors: every dtype, 0-d to 3-d, odd sizes, an empty one. */
function sampleTensors(): InMemoryTensor[] {
  const u16 = (n: number, seed: number) => new Uint16Array(noise(2 * n, seed).buffer);
  return [
    { name: "tok_embeddings.weight", dtype: "bf16", shape: [7, 5], data: u16(35, 1) },
    { name: "layers.0.attention.wq.weight", dtype: "f16", shape: [3, 3], data: u16(9, 2) },
    {
      name: "norm.weight",
      dtype: "f32",
      shape: [5],
      data: new Float32Array([1, -2, 3.5, 0, 1e-8]),
    },
    { name: "scalar", dtype: "f32", shape: [], data: new Float32Array([42]) },
    { name: "cube", dtype: "bf16", shape: [2, 3, 4], data: u16(24, 3) },
    { name: "empty", dtype: "bf16", shape: [0, 4], data: new Uint16Array(0) },
    { name: "odd", dtype: "bf16", shape: [1001], data: u16(1001, 4) },
  ];
}

Deno.test("crc32 matches the standard check value and node:zlib", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const data = noise(100_003, 7);
  for (const start of [0, 1, 2, 3, 5]) {
    const view = data.subarray(start, start + 65_537);
    const expected = zlibCrc32(view) >>> 0;
    assert.equal(crc32(view), expected, `offset ${start}`);
    // incremental, cut at odd places
    let c = 0;
    for (const [a, b] of [[0, 3], [3, 4000], [4000, 4001], [4001, view.length]]) {
      c = crc32Update(c, view.subarray(a, b));
    }
    assert.equal(c, expected, `incremental from offset ${start}`);
  }
});

Deno.test("dumpPickle writes the bytes CPython's pickle.dumps(protocol=2) writes", async () => {
  // Expected bytes from CPython 3 `pickle.dumps(value, protocol=2).hex()`.
  const ints = [0, 255, 256, 65535, 65536, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1];
  ints.push(2 ** 40, -(2 ** 40));
  // (2**63 needs more than a double; CPython's bytes for it end the tuple)
  const intsHex = hex(dumpPickle(ints));
  assert.equal(
    intsHex,
    "8002284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a0500000080008a05" +
      "ffffff7fff8a060000000000018a060000000000ff" + "7471002e",
  );
  assert.equal(
    hex(dumpPickle([[], [null], [true, false], [1, 2, 3], [1, 2, 3, 4], [[]]])),
    "800228294e85710088898671014b014b024b03877102284b014b024b034b04747103298571047471052e",
  );
  assert.equal(
    hex(dumpPickle(["", "a", "héllo", "👋"])),
    "800228580000000071005801000000617101580600000068c3a96c6c6f71025804000000f09f918b71037471042e",
  );
  const orderedDict = new PyGlobal("collections", "OrderedDict");
  assert.equal(
    hex(dumpPickle(new PyReduce(orderedDict, [], [["a", 1]]))),
    "800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710158010000006171024b01732e",
  );
  // The same Python object twice is memo-referenced (BINGET); equal but distinct ones are not.
  const shared = new PyStr("shared");
  const fresh = new PyStr("fresh");
  assert.equal(
    hex(dumpPickle([shared, shared, fresh, fresh])),
    "80022858060000007368617265647100680058050000006672657368710168017471022e",
  );
  // 1001 items: two SETITEMS batches, memo indices past 255 (LONG_BINPUT, LONG_BINGET).
  const late = new PyStr("late");
  const items = Array.from(
    { length: 1001 },
    (_, i) => [`k${i}`, i < 300 ? i : [late, i]] as const,
  );
  const big = dumpPickle(new PyDict(items));
  assert.equal(big.length, 23617);
  assert.equal(
    await sha256(big),
    "6d4ee5258563e9dbf88541dc77a42c1a253f26cb10d83333e3448e578ee426df",
  );
  // Batch edges: CPython ends an exact dict of 1000 items with an empty MARK SETITEMS, and an
  // OrderedDict's lone last item with SETITEM. sha256 of `pickle.dumps({i: 0 ...}, 2)`:
  const expected: Record<string, string> = {
    "dict 1000": "9ae39f8d120cc2f5896e5d2465f950974b2b1fb3094fd6a09c6ffaccc08764a1",
    "OrderedDict 1000": "d93cce64caf15c1b0e40290d9c5ad821326b120daaf27bf2d8dfac43eb69f370",
    "dict 1001": "b19b695f89311e79f168663d277faa350ebe0807d9e770770b75bc6b6ae34ff7",
    "OrderedDict 1001": "542dc2da0c5b5197ac018606695d151ce60783ce6290429f522157319465d07a",
  };
  for (const n of [1000, 1001]) {
    const pairs = Array.from({ length: n }, (_, i) => [i, 0] as const);
    assert.equal(await sha256(dumpPickle(new PyDict(pairs))), expected[`dict ${n}`]);
    assert.equal(
      await sha256(dumpPickle(new PyReduce(orderedDict, [], pairs))),
      expected[`OrderedDict ${n}`],
    );
  }
});

Deno.test("writePth reproduces a torch 1.13 checkpoint byte for byte", async () => {
  // tiny_untied: a plain dict of bf16 and f32 tensors, saved by torch.save in torch 1.13.
  const path = join(FIXTURES, "tiny_untied", "consolidated.00.pth");
  const original = Deno.readFileSync(path);
  const tensors = [...readPth(original, path).values()];
  assert.ok(tensors.length > 20);
  await withTempDir(async (dir) => {
    const ours = join(dir, "consolidated.00.pth");
    await writePth(ours, tensors, {
      container: "dict",
      extraRecords: false, // torch 1.13 writes no byteorder or serialization id
      sortStorageKeys: true, // torch 1.13 writes storages in string order: 0, 1, 10, ...
    });
    const written = Deno.readFileSync(ours);
    assert.equal(written.length, original.length);
    assert.ok(written.every((b, i) => b === original[i]), "files differ");
  });
});

Deno.test("writePth output has the structure of a torch-written checkpoint", async () => {
  // tiny_tied: an OrderedDict state dict (with _metadata) saved by torch.save.
  const path = join(FIXTURES, "tiny_tied", "consolidated.00.pth");
  const torchBytes = Deno.readFileSync(path);
  const tensors = [...readPth(torchBytes, path).values()];
  await withTempDir(async (dir) => {
    const ours = join(dir, "consolidated.00.pth");
    await writePth(ours, tensors);
    const ourBytes = Deno.readFileSync(ours);
    const torchEntries = readZipDirectory(torchBytes, path);
    const ourEntries = readZipDirectory(ourBytes, ours);

    // Same names (ours adds the two records torch >= 2.1 writes), same folder.
    const extra = ["consolidated.00/byteorder", "consolidated.00/.data/serialization_id"];
    assert.deepEqual(
      ourEntries.map((e) => e.name).filter((n) => !extra.includes(n)).sort(),
      torchEntries.map((e) => e.name).sort(),
    );
    assert.equal(ourEntries[0].name, "consolidated.00/data.pkl");
    assert.equal(ourEntries.at(-1)!.name, "consolidated.00/.data/serialization_id");
    const text = (e: { name: string }) =>
      new TextDecoder().decode(
        storedEntryBytes(ourBytes, ourEntries.find((o) => o.name === e.name)!, ours),
      );
    assert.equal(text({ name: "consolidated.00/byteorder" }), "little");
    assert.equal(text({ name: "consolidated.00/version" }), "3\n");
    assert.match(text({ name: "consolidated.00/.data/serialization_id" }), /^\d{40}$/);

    for (
      const [bytes, entries, file] of [
        [torchBytes, torchEntries, path],
        [ourBytes, ourEntries, ours],
      ] as const
    ) {
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      for (const e of entries) {
        // stored, 64-byte aligned, CRC right (checked with node:zlib, not our CRC)
        assert.equal(e.method, 0);
        const start = storedEntryOffset(bytes, e, file);
        assert.equal(start % 64, 0, `${file}: ${e.name} at ${start}`);
        assert.equal(zlibCrc32(bytes.subarray(start, start + e.size)) >>> 0, e.crc32, e.name);
        // local header as torch's miniz writes it: version 0, flags 0x0808, no time
        const h = e.localHeaderOffset;
        assert.equal(view.getUint16(h + 4, true), 0, "version needed");
        assert.equal(view.getUint16(h + 6, true), 0x0808, "flags");
        assert.equal(view.getUint32(h + 10, true), 0, "time and date");
        assert.equal(view.getUint32(h + 14, true), 0, "crc deferred to the descriptor");
        // the "FB" padding extra field, then the data descriptor after the data
        const nameLength = view.getUint16(h + 26, true);
        assert.equal(view.getUint16(h + 30 + nameLength, true), 0x4246);
        assert.equal(view.getUint32(start + e.size, true), 0x08074b50, "data descriptor");
        assert.equal(view.getUint32(start + e.size + 4, true), e.crc32);
      }
      // ZIP64 end record and locator before the classic end record, as torch writes them
      const end = bytes.length - 22;
      assert.equal(view.getUint32(end, true), 0x06054b50);
      assert.equal(view.getUint32(end - 20, true), 0x07064b50);
      assert.equal(view.getUint32(end - 20 - 56, true), 0x06064b50);
    }

    // The same pickle globals.
    const pickleOf = (bytes: Uint8Array, entries: typeof ourEntries, file: string) =>
      storedEntryBytes(bytes, entries.find((e) => e.name.endsWith("/data.pkl"))!, file);
    const globals = (pickle: Uint8Array) =>
      new Set([...new TextDecoder("latin1").decode(pickle).matchAll(/c([\w.]+)\n(\w+)\n/g)].map(
        (m) => `${m[1]}.${m[2]}`,
      ));
    assert.deepEqual(
      globals(pickleOf(ourBytes, ourEntries, ours)),
      globals(pickleOf(torchBytes, torchEntries, path)),
    );

    // And the same tensors.
    const back = readBack(ours);
    assert.deepEqual(back.map((t) => t.name), tensors.map((t) => t.name));
    back.forEach((t, i) => {
      assert.equal(t.dtype, tensors[i].dtype);
      assert.deepEqual(t.shape, [...tensors[i].shape]);
      assert.deepEqual(t.bytes, bytesOf(tensors[i] as InMemoryTensor));
    });
  });
});

Deno.test("writePth round-trips through our reader, with and without ZIP64 records", async () => {
  const tensors = sampleTensors();
  await withTempDir(async (dir) => {
    for (const forceZip64 of [false, true]) {
      for (const container of ["OrderedDict", "dict"] as const) {
        const path = join(dir, `model_${forceZip64}_${container}.pth`);
        await writePth(path, tensors, { forceZip64, container });
        const back = readBack(path);
        assert.deepEqual(back.map((t) => t.name), tensors.map((t) => t.name));
        back.forEach((t, i) => {
          assert.equal(t.dtype, tensors[i].dtype, t.name);
          assert.deepEqual(t.shape, tensors[i].shape, t.name);
          assert.deepEqual(t.bytes, bytesOf(tensors[i]), t.name);
          assert.equal(t.byteOffset % 64, 0, `${t.name} aligned`);
        });
        const bytes = Deno.readFileSync(path);
        const entries = readZipDirectory(bytes, path);
        for (const e of entries) {
          const start = storedEntryOffset(bytes, e, path);
          assert.equal(zlibCrc32(bytes.subarray(start, start + e.size)) >>> 0, e.crc32);
        }
      }
    }
  });
});

Deno.test("forceZip64 writes ZIP64 fields in every local and central header", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "z.pth");
    await writePth(path, sampleTensors(), { forceZip64: true });
    const bytes = Deno.readFileSync(path);
    const view = new DataView(bytes.buffer);
    const entries = readZipDirectory(bytes, path);
    // Walk the central directory by hand.
    const end = bytes.length - 22;
    const count = view.getUint16(end + 10, true);
    assert.equal(count, entries.length);
    let at = view.getUint32(end + 16, true);
    for (let i = 0; i < count; i++) {
      assert.equal(view.getUint32(at, true), 0x02014b50);
      assert.equal(view.getUint32(at + 20, true), 0xffffffff, "compressed size in ZIP64");
      assert.equal(view.getUint32(at + 24, true), 0xffffffff, "size in ZIP64");
      assert.equal(view.getUint32(at + 42, true), 0xffffffff, "offset in ZIP64");
      const nameLength = view.getUint16(at + 28, true);
      const extraLength = view.getUint16(at + 30, true);
      const extra = at + 46 + nameLength;
      assert.equal(view.getUint16(extra, true), 0x0001);
      assert.equal(view.getUint16(extra + 2, true), 24);
      const size = Number(view.getBigUint64(extra + 4, true));
      const offset = Number(view.getBigUint64(extra + 20, true));
      assert.equal(size, entries[i].size);
      assert.equal(offset, entries[i].localHeaderOffset);
      // local header: ZIP64 extra first; 8-byte sizes in the data descriptor
      const localName = view.getUint16(offset + 26, true);
      assert.equal(view.getUint16(offset + 30 + localName, true), 0x0001);
      const start = storedEntryOffset(bytes, entries[i], path);
      assert.equal(view.getUint32(start + size, true), 0x08074b50);
      assert.equal(Number(view.getBigUint64(start + size + 8, true)), size);
      assert.equal(Number(view.getBigUint64(start + size + 16, true)), size);
      at = extra + extraLength;
    }
  });
});

Deno.test("PthWriter streams chunks in order and works without a plan", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "stream.pth");
    const writer = await PthWriter.create(path, { chunkBytes: 24 }); // 12 bf16 / 6 f32 a chunk
    const seen: number[] = [];
    await writer.addTensor("a", "bf16", [5, 7], (chunk, first) => {
      seen.push(first);
      const out = new Uint16Array(chunk.buffer, chunk.byteOffset, chunk.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = first + i; // element index
    });
    assert.deepEqual(seen, [0, 12, 24]);
    await writer.addTensor("b", "f32", [3], async (chunk) => {
      await Promise.resolve();
      new Float32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4).set([0.5, 1.5, 2.5]);
    });
    assert.ok(writer.bytesWritten > 0);
    await writer.close();
    // Only the finished file is left: the temporary was renamed.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["stream.pth"]);

    const [a, b] = readBack(path);
    assert.deepEqual(
      Array.from(new Uint16Array(a.bytes.buffer)),
      Array.from({ length: 35 }, (_, i) => i),
    );
    assert.deepEqual(Array.from(new Float32Array(b.bytes.buffer)), [0.5, 1.5, 2.5]);
    const bytes = Deno.readFileSync(path);
    const names = readZipDirectory(bytes, path).map((e) => e.name);
    assert.deepEqual(names, [
      "stream/byteorder",
      "stream/data/0",
      "stream/data/1",
      "stream/data.pkl", // no plan: the pickle follows the storages
      "stream/version",
      "stream/.data/serialization_id",
    ]);
  });
});

Deno.test("PthWriter rejects misuse with CheckpointError and leaves no file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "bad.pth");
    const gone = async () => {
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
      assert.deepEqual([...Deno.readDirSync(dir)], [], "no temporary is left behind");
    };
    const zeros = () => {};

    let writer = await PthWriter.create(path, {
      plan: [{ name: "a", dtype: "bf16", shape: [2] }],
    });
    await assert.rejects(writer.addTensor("b", "bf16", [2], zeros), /expected tensor a bf16 \[2\]/);
    await writer.abort();
    await gone();

    writer = await PthWriter.create(path, { plan: [{ name: "a", dtype: "bf16", shape: [2] }] });
    await assert.rejects(writer.close(), /planned tensors were not written: a/);
    await gone();

    writer = await PthWriter.create(path);
    await writer.addTensor("a", "f32", [4], zeros);
    await assert.rejects(writer.addTensor("a", "f32", [4], zeros), CheckpointError);
    await assert.rejects(writer.addTensor("c", "f32", [-1], zeros), /non-negative integers/);
    await writer.abort();
    await gone();

    writer = await PthWriter.create(path, { chunkBytes: 8 });
    await assert.rejects(
      writer.addTensor("a", "f32", [100], (_, first) => {
        if (first > 10) throw new Error("generator failed");
      }),
      /generator failed/,
    );
    await gone();

    await assert.rejects(
      writePth(path, [{ name: "x", dtype: "bf16", shape: [3], data: new Uint16Array(2) }]),
      /shape \[3\] \(3 bf16 elements\), but its data holds 4 bytes/,
    );
    await assert.rejects(
      PthWriter.create(path, { sortStorageKeys: true }),
      /sortStorageKeys needs a plan/,
    );
    await gone();
  });
});

Deno.test("ZipWriter checks declared entry sizes", async () => {
  await withTempDir(async (dir) => {
    const zip = await ZipWriter.create(join(dir, "z.zip"));
    const entry = await zip.beginEntry("a", 4);
    await assert.rejects(async () => await entry.write(new Uint8Array(5)), /declared 4 bytes/);
    await entry.write(new Uint8Array(3));
    await assert.rejects(entry.end(), /declared 4 bytes, got 3/);
    zip.abort();
  });
});
