/**
 * Tests of `ffi/mmap.ts`. The reference for every byte is what the test wrote
 * to disk itself (random bytes, or markers in a sparse file) and, for small
 * files, `Deno.readFileSync`: never the mapper's own output.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { MappingError } from "../lib/errors.ts";
import { openMappedFile, type SharedMapping, viewSharedMapping } from "../ffi/mmap.ts";
import { readFileShared } from "../ffi/read_fallback.ts";
import { loadNativeMapper } from "../ffi/native.ts";
import type { MmapWorkerReply, MmapWorkerRequest } from "./helpers/mmap_worker.ts";

const GiB = 2 ** 30;

/** A temporary file holding `bytes`; removed by the returned disposer. */
function tempFile(bytes: Uint8Array): { path: string } & Disposable {
  const path = Deno.makeTempFileSync({ prefix: "mmap_test_" });
  Deno.writeFileSync(path, bytes);
  return { path, [Symbol.dispose]: () => Deno.removeSync(path) };
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/** Asks a real worker to read `ranges` through `viewSharedMapping(shared)`. */
async function readInWorker(
  shared: SharedMapping,
  ranges: [number, number][],
): Promise<MmapWorkerReply> {
  const worker = new Worker(new URL("./helpers/mmap_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const reply = new Promise<MmapWorkerReply>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<MmapWorkerReply>) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.postMessage({ shared, ranges } satisfies MmapWorkerRequest);
    return await reply;
  } finally {
    worker.terminate();
  }
}

Deno.test("openMappedFile maps a file read-only with zero copies of its bytes", () => {
  const bytes = randomBytes(1_000_003); // not a multiple of the page size
  using tmp = tempFile(bytes);
  using file = openMappedFile(tmp.path);
  assert.equal(file.mapped, true);
  assert.equal(file.path, tmp.path);
  assert.equal(file.byteLength, bytes.length);
  assert.ok(file.buffer instanceof ArrayBuffer);
  assert.equal(file.buffer.byteLength, bytes.length);
  assert.deepEqual(new Uint8Array(file.buffer), Deno.readFileSync(tmp.path));
  assert.deepEqual(new Uint8Array(file.buffer), bytes);
  // The same buffer every time: views made by different readers share it.
  assert.equal(file.buffer, file.buffer);
  const shared = file.shared;
  assert.equal(shared.kind, "address");
  if (shared.kind === "address") {
    assert.equal(typeof shared.address, "bigint");
    assert.notEqual(shared.address, 0n);
    assert.equal(shared.byteLength, bytes.length);
  }
});

Deno.test("close() unmaps once, detaches stale views, and later use throws MappingError", () => {
  const bytes = randomBytes(10_000);
  using tmp = tempFile(bytes);
  const file = openMappedFile(tmp.path);
  const view = new Uint8Array(file.buffer, 100, 50);
  const buffer = file.buffer;
  assert.equal(view[0], bytes[100]);
  file.close();
  file.close(); // idempotent
  // Stale views are detached: length 0 and undefined reads, not a segfault.
  assert.equal(view.length, 0);
  assert.equal(view[0], undefined);
  assert.equal(buffer.byteLength, 0);
  assert.throws(() => file.buffer, (error: unknown) => {
    assert.ok(error instanceof MappingError);
    assert.match(error.message, /used after close\(\)/);
    assert.match(error.message, /fix: /);
    assert.equal(error.path, tmp.path);
    return true;
  });
  assert.throws(() => file.shared, MappingError);
  file[Symbol.dispose](); // still a no-op
});

Deno.test("`using` releases the mapping at the end of its block", () => {
  using tmp = tempFile(randomBytes(4096));
  let view: Uint8Array;
  let escaped: { readonly buffer: ArrayBufferLike };
  {
    using file = openMappedFile(tmp.path);
    view = new Uint8Array(file.buffer);
    escaped = file;
    assert.equal(view.length, 4096);
  }
  assert.equal(view.length, 0);
  assert.throws(() => escaped.buffer, MappingError);
});

Deno.test("a worker reads the same mapped bytes through viewSharedMapping", async () => {
  const bytes = randomBytes(300_000);
  using tmp = tempFile(bytes);
  using file = openMappedFile(tmp.path);
  assert.equal(file.shared.kind, "address");
  const reply = await readInWorker(file.shared, [[0, bytes.length], [123_456, 7]]);
  assert.ok(reply.ok, reply.ok ? "" : reply.message);
  assert.equal(reply.byteLength, bytes.length);
  assert.deepEqual(reply.slices[0], bytes);
  assert.deepEqual(reply.slices[1], bytes.subarray(123_456, 123_463));
});

Deno.test("preferMmap: false reads the file into a SharedArrayBuffer that workers share", async () => {
  const bytes = randomBytes(200_001);
  using tmp = tempFile(bytes);
  const file = openMappedFile(tmp.path, { preferMmap: false });
  assert.equal(file.mapped, false);
  assert.ok(file.buffer instanceof SharedArrayBuffer);
  assert.deepEqual(new Uint8Array(file.buffer), bytes);
  const shared = file.shared;
  assert.equal(shared.kind, "buffer");
  assert.equal(viewSharedMapping(shared), file.buffer);
  const reply = await readInWorker(shared, [[0, bytes.length]]);
  assert.ok(reply.ok, reply.ok ? "" : reply.message);
  assert.deepEqual(reply.slices[0], bytes);
  file.close();
  assert.throws(() => file.buffer, MappingError);
  assert.throws(() => file.shared, MappingError);
});

Deno.test("readFileShared reassembles a file from many short reads", () => {
  const bytes = randomBytes(10_007);
  using tmp = tempFile(bytes);
  for (const chunk of [1, 7, 4096, 10_007, 1 << 20]) {
    assert.deepEqual(new Uint8Array(readFileShared(tmp.path, bytes.length, chunk)), bytes);
  }
  assert.throws(() => readFileShared(tmp.path, bytes.length + 1), (error: unknown) => {
    assert.ok(error instanceof MappingError);
    assert.match(error.message, /expected 10008 bytes, the file ended after 10007/);
    return true;
  });
});

Deno.test("without --allow-ffi the file is read into memory and a note is printed once", async () => {
  const a = randomBytes(1000);
  const b = randomBytes(33);
  using tmpA = tempFile(a);
  using tmpB = tempFile(b);
  const script = fileURLToPath(new URL("./helpers/mmap_no_ffi.ts", import.meta.url));
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", script, tmpA.path, tmpB.path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const hex = (bytes: Uint8Array) =>
    Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
  const lines = stdout.trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(lines.length, 4); // both files, opened twice each
  for (const [i, line] of lines.entries()) {
    const [path, bytes] = i % 2 === 0 ? [tmpA.path, a] : [tmpB.path, b];
    assert.deepEqual(line, {
      path,
      mapped: false,
      kind: "buffer",
      shared: true,
      byteLength: bytes.length,
      hex: hex(bytes),
    });
  }
  const notes = stderr.split("\n").filter((line) => line.startsWith("note:"));
  assert.deepEqual(notes, [
    `note: --allow-ffi not granted; reading ${tmpA.path} into memory instead of mapping it`,
  ]);
});

Deno.test("an empty file gives an empty buffer without mapping anything", () => {
  using tmp = tempFile(new Uint8Array(0));
  using file = openMappedFile(tmp.path);
  assert.equal(file.byteLength, 0);
  assert.equal(file.mapped, false);
  assert.equal(file.buffer.byteLength, 0);
  assert.equal(file.shared.kind, "buffer");
});

Deno.test("a missing file or a directory is a MappingError naming the path and a fix", () => {
  const dir = Deno.makeTempDirSync({ prefix: "mmap_test_" });
  try {
    const missing = `${dir}/consolidated.00.pth`;
    assert.throws(() => openMappedFile(missing), (error: unknown) => {
      assert.ok(error instanceof MappingError);
      assert.match(error.message, /expected a file, found nothing at that path/);
      assert.equal(error.path, missing);
      assert.ok(error.message.includes(`file: ${missing}`));
      assert.ok(error.fix);
      return true;
    });
    assert.throws(() => openMappedFile(dir), (error: unknown) => {
      assert.ok(error instanceof MappingError);
      assert.match(error.message, /expected a regular file, found a directory/);
      assert.equal(error.path, dir);
      return true;
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("failed native calls are MappingErrors that carry the operating system's error", () => {
  const mapper = loadNativeMapper();
  assert.notEqual(typeof mapper, "string", `no native mapper: ${mapper}`);
  if (typeof mapper === "string") return;
  using tmp = tempFile(randomBytes(64));
  // 2^53 - 1 bytes cannot fit in any address space: mmap/MapViewOfFile must fail, not crash.
  const huge = Number.MAX_SAFE_INTEGER;
  assert.throws(() => mapper.map(tmp.path, huge), (error: unknown) => {
    assert.ok(error instanceof MappingError);
    assert.match(error.message, /failed with (errno \d+ \(.+\)|error \d+)/);
    assert.equal(error.path, tmp.path);
    assert.ok(error.fix);
    return true;
  });
  // A path that vanished between stat and open.
  const gone = `${tmp.path}.gone`;
  assert.throws(() => mapper.map(gone, 64), (error: unknown) => {
    assert.ok(error instanceof MappingError);
    assert.match(error.message, /errno 2 \(No such file or directory\)|error 2/);
    assert.equal(error.path, gone);
    return true;
  });
});

Deno.test("a sparse 5 GiB file maps whole; bytes past 4 GiB read in this thread and a worker", async () => {
  const size = 5 * GiB + 3; // odd size: the last page is partial
  const markers: [number, Uint8Array][] = [
    [0, new Uint8Array([0x50, 0x4b, 0x03, 0x04])],
    [2 ** 32 - 2, new Uint8Array([1, 2, 3, 4])], // straddles the 4 GiB boundary
    [2 ** 32 + 12_345, new Uint8Array([0xde, 0xad, 0xbe, 0xef])],
    [size - 5, new Uint8Array([9, 8, 7, 6, 5])], // ends at the last byte
  ];
  const path = Deno.makeTempFileSync({ prefix: "mmap_test_sparse_" });
  try {
    {
      using out = Deno.openSync(path, { write: true });
      out.truncateSync(size); // sparse: takes no disk space
      for (const [offset, bytes] of markers) {
        out.seekSync(offset, Deno.SeekMode.Start);
        assert.equal(out.writeSync(bytes), bytes.length);
      }
    }
    using file = openMappedFile(path);
    assert.equal(file.mapped, true);
    assert.equal(file.byteLength, size);
    assert.equal(file.buffer.byteLength, size);
    for (const [offset, bytes] of markers) {
      assert.deepEqual(new Uint8Array(file.buffer, offset, bytes.length), bytes, `at ${offset}`);
    }
    // A hole between markers reads as zeros.
    assert.deepEqual(new Uint8Array(file.buffer, 2 ** 32 + 4096, 8), new Uint8Array(8));
    // A 16-bit view at a byte offset past 4 GiB, like a bf16 tensor deep in the 8B checkpoint.
    const words = new Uint16Array(file.buffer, 2 ** 32 + 12_344, 2);
    assert.deepEqual([...words], [0xde00, 0xbead]); // little-endian pairs (00 de) (ad be)

    const reply = await readInWorker(file.shared, markers.map(([o, b]) => [o, b.length]));
    assert.ok(reply.ok, reply.ok ? "" : reply.message);
    assert.equal(reply.byteLength, size);
    assert.deepEqual(reply.slices, markers.map(([, bytes]) => bytes));
  } finally {
    Deno.removeSync(path);
  }
});
