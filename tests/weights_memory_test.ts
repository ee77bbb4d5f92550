/**
 * Tests of `ffi/place_file.ts` and `lib/tensor/weights_memory.ts`: files placed inside a
 * WebAssembly memory, mapped or copied. The reference for every byte is what the test wrote to
 * disk itself (random bytes, or markers in a sparse file) and `Deno.readFileSync`: never the
 * code's own output. Resident memory from `/proc/self/status` shows that mapped pages are the
 * file's (page cache), not copies.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { MappingError } from "../lib/errors.ts";
import { WeightsMemory } from "../lib/tensor/weights_memory.ts";
import { readFileInto } from "../ffi/read_fallback.ts";
import { loadNativeMemory } from "../ffi/native.ts";
import {
  loadModule,
  type WeightsWorkerReply,
  type WeightsWorkerRequest,
} from "./helpers/weights_worker.ts";

const GiB = 2 ** 30;

/** A temporary file holding `bytes`; removed by the returned disposer. */
function tempFile(bytes: Uint8Array): { path: string } & Disposable {
  const path = Deno.makeTempFileSync({ prefix: "weights_test_" });
  Deno.writeFileSync(path, bytes);
  return { path, [Symbol.dispose]: () => Deno.removeSync(path) };
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/**
 * Resident memory of this process, in bytes: anonymous (its own) and file-backed. Deno reads
 * `/proc` only with `--allow-all`, so `cat` reads it (the test task may run programs).
 */
function resident(): { anon: number; file: number } {
  const output = new Deno.Command("cat", { args: [`/proc/${Deno.pid}/status`] }).outputSync();
  const status = new TextDecoder().decode(output.stdout);
  const kb = (key: string) => Number(status.match(new RegExp(`${key}:\\s+(\\d+) kB`))![1]) * 1024;
  return { anon: kb("RssAnon"), file: kb("RssFile") };
}

/** Asks a real worker to read `ranges` of the memory. */
async function readInWorker(
  memory: WebAssembly.Memory,
  ranges: [number, number][],
): Promise<WeightsWorkerReply> {
  const worker = new Worker(new URL("./helpers/weights_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const reply = new Promise<WeightsWorkerReply>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<WeightsWorkerReply>) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.postMessage({ memory, ranges } satisfies WeightsWorkerRequest);
    return await reply;
  } finally {
    worker.terminate();
  }
}

Deno.test("files are mapped into one WebAssembly memory at 64 KiB boundaries, zero-copy", () => {
  const a = randomBytes(1_000_003), b = randomBytes(70_000); // not multiples of a page
  using fileA = tempFile(a);
  using fileB = tempFile(b);
  using weights = WeightsMemory.open([fileA.path, fileB.path]);
  assert.equal(weights.mapped, true);
  assert.deepEqual(weights.files.map((f) => [f.path, f.byteOffset, f.byteLength]), [
    [fileA.path, 0, a.length],
    [fileB.path, 16 * 65536, b.length],
  ]);
  assert.ok(weights.memory.buffer instanceof SharedArrayBuffer);
  assert.deepEqual(weights.files[0].bytes, Deno.readFileSync(fileA.path));
  assert.deepEqual(weights.files[1].bytes, b);
  assert.deepEqual(new Uint8Array(weights.buffer, 16 * 65536, 4), b.subarray(0, 4));
  assert.equal(weights.byteLength, a.length + b.length);
});

Deno.test("mapped pages are the file's pages: reading them adds file-backed, not anonymous, memory", () => {
  const size = 64 * 2 ** 20;
  using file = tempFile(randomBytes(size));
  using weights = WeightsMemory.open([file.path]);
  const before = resident();
  let sum = 0;
  const words = new Uint32Array(weights.buffer, 0, size / 4);
  for (let i = 0; i < words.length; i += 1024) sum += words[i]; // touch every page
  const after = resident();
  assert.ok(sum >= 0);
  assert.ok(after.file - before.file > size * 0.9, `RssFile grew by ${after.file - before.file}`);
  assert.ok(after.anon - before.anon < size * 0.1, `RssAnon grew by ${after.anon - before.anon}`);
});

Deno.test("close() releases the mapping: the range reads zeros, later use throws MappingError", () => {
  const bytes = randomBytes(10_000);
  bytes[100] = 7;
  using tmp = tempFile(bytes);
  const weights = WeightsMemory.open([tmp.path]);
  const view = new Uint8Array(weights.buffer, 100, 50);
  assert.equal(view[0], 7);
  weights.close();
  weights.close(); // idempotent
  assert.equal(view[0], 0); // zero pages now: a late reader cannot crash
  assert.throws(() => weights.buffer, (error: unknown) => {
    assert.ok(error instanceof MappingError);
    assert.match(error.message, /used after close\(\)/);
    assert.match(error.message, /fix: /);
    return true;
  });
});

Deno.test("a worker sees the same bytes through the posted memory, in JavaScript and WebAssembly", async () => {
  const bytes = randomBytes(300_000);
  using tmp = tempFile(bytes);
  using weights = WeightsMemory.open([tmp.path]);
  const reply = await readInWorker(weights.memory, [[0, bytes.length], [123_456, 7]]);
  assert.ok(reply.ok, reply.ok ? "" : reply.message);
  assert.equal(reply.byteLength, weights.memory.buffer.byteLength);
  assert.deepEqual(reply.slices[0], bytes);
  assert.deepEqual(reply.slices[1], bytes.subarray(123_456, 123_463));
  const word = new DataView(bytes.buffer).getUint32(123_456, true);
  assert.equal(reply.wasmWords[1], word);
});

Deno.test("preferMmap: false copies the files into the memory", async () => {
  const bytes = randomBytes(200_001);
  using tmp = tempFile(bytes);
  using weights = WeightsMemory.open([tmp.path], { preferMmap: false });
  assert.equal(weights.mapped, false);
  assert.deepEqual(weights.files[0].bytes, bytes);
  const reply = await readInWorker(weights.memory, [[0, bytes.length]]);
  assert.ok(reply.ok, reply.ok ? "" : reply.message);
  assert.deepEqual(reply.slices[0], bytes);
});

Deno.test("readFileInto reassembles a file from many short reads", () => {
  const bytes = randomBytes(10_007);
  using tmp = tempFile(bytes);
  for (const chunk of [1, 7, 4096, 10_007, 1 << 20]) {
    const target = new Uint8Array(bytes.length);
    readFileInto(tmp.path, target, chunk);
    assert.deepEqual(target, bytes);
  }
  assert.throws(
    () => readFileInto(tmp.path, new Uint8Array(bytes.length + 1)),
    (error: unknown) => {
      assert.ok(error instanceof MappingError);
      assert.match(error.message, /expected 10008 bytes, the file ended after 10007/);
      return true;
    },
  );
});

Deno.test("without --allow-ffi the files are copied and a note is printed once", async () => {
  const a = randomBytes(1000);
  const b = randomBytes(33);
  using tmpA = tempFile(a);
  using tmpB = tempFile(b);
  const script = fileURLToPath(new URL("./helpers/weights_no_ffi.ts", import.meta.url));
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
  assert.equal(lines.length, 2); // opened twice
  for (const line of lines) {
    assert.deepEqual(line, {
      mapped: false,
      files: [
        { path: tmpA.path, byteOffset: 0, hex: hex(a) },
        { path: tmpB.path, byteOffset: 65536, hex: hex(b) },
      ],
    });
  }
  const notes = stderr.split("\n").filter((line) => line.startsWith("note:"));
  assert.deepEqual(notes, [
    `note: --allow-ffi not granted; copying ${tmpA.path} into memory instead of mapping it ` +
    "(0.00 GiB of RAM)",
  ]);
});

Deno.test("an empty file takes no pages", () => {
  using tmp = tempFile(new Uint8Array(0));
  using weights = WeightsMemory.open([tmp.path]);
  assert.equal(weights.files[0].byteLength, 0);
  assert.equal(weights.files[0].bytes.length, 0);
});

Deno.test("a missing file or a directory is a MappingError naming the path and a fix", () => {
  const dir = Deno.makeTempDirSync({ prefix: "weights_test_" });
  try {
    const missing = `${dir}/consolidated.00.pth`;
    assert.throws(() => WeightsMemory.open([missing]), (error: unknown) => {
      assert.ok(error instanceof MappingError);
      assert.match(error.message, /expected a file, found nothing at that path/);
      assert.equal(error.path, missing);
      assert.ok(error.message.includes(`file: ${missing}`));
      assert.ok(error.fix);
      return true;
    });
    assert.throws(() => WeightsMemory.open([dir]), (error: unknown) => {
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
  const native = loadNativeMemory();
  assert.notEqual(typeof native, "string", `no native memory calls: ${native}`);
  if (typeof native === "string") return;
  using tmp = tempFile(randomBytes(64));
  const memory = new WebAssembly.Memory({ initial: 2 });
  const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(new Uint8Array(memory.buffer)));
  // An address that is not page-aligned: mmap refuses it (EINVAL) rather than crashing.
  assert.throws(() => native.mapFileAt(base + 1n, 64, tmp.path, 0), (error: unknown) => {
    assert.ok(error instanceof MappingError);
    assert.match(error.message, /failed with errno 22 \(Invalid argument\)/);
    assert.equal(error.path, tmp.path);
    assert.ok(error.fix);
    return true;
  });
  // A path that vanished between stat and open.
  const gone = `${tmp.path}.gone`;
  assert.throws(() => native.mapFileAt(base, 64, gone, 0), (error: unknown) => {
    assert.ok(error instanceof MappingError);
    assert.match(error.message, /errno 2 \(No such file or directory\)/);
    assert.equal(error.path, gone);
    return true;
  });
});

Deno.test("a sparse 5 GiB file maps whole; bytes past 4 GiB read in JavaScript, WebAssembly and a worker", async () => {
  const size = 5 * GiB + 3; // odd size: the last page is partial
  const markers: [number, Uint8Array][] = [
    [0, new Uint8Array([0x50, 0x4b, 0x03, 0x04])],
    [2 ** 32 - 2, new Uint8Array([1, 2, 3, 4])], // straddles the 4 GiB boundary
    [2 ** 32 + 12_344, new Uint8Array([0xde, 0xad, 0xbe, 0xef])],
    [size - 5, new Uint8Array([9, 8, 7, 6, 5])], // ends at the last byte
  ];
  const path = Deno.makeTempFileSync({ prefix: "weights_test_sparse_" });
  try {
    {
      using out = Deno.openSync(path, { write: true });
      out.truncateSync(size); // sparse: takes no disk space
      for (const [offset, bytes] of markers) {
        out.seekSync(offset, Deno.SeekMode.Start);
        assert.equal(out.writeSync(bytes), bytes.length);
      }
    }
    using weights = WeightsMemory.open([path]);
    assert.equal(weights.mapped, true);
    const buffer = weights.buffer;
    for (const [offset, bytes] of markers) {
      assert.deepEqual(new Uint8Array(buffer, offset, bytes.length), bytes, `at ${offset}`);
    }
    // A hole between markers reads as zeros.
    assert.deepEqual(new Uint8Array(buffer, 2 ** 32 + 4096, 8), new Uint8Array(8));
    // A 16-bit view at a byte offset past 4 GiB, like a bf16 tensor deep in the 8B checkpoint.
    const words = new Uint16Array(buffer, 2 ** 32 + 12_344, 2);
    assert.deepEqual([...words], [0xadde, 0xefbe]);
    // A WebAssembly load at a 64-bit address past 4 GiB.
    const load = new WebAssembly.Instance(loadModule(), { env: { weights: weights.memory } })
      .exports.load as (address: bigint) => number;
    assert.equal(load(BigInt(2 ** 32 + 12_344)) >>> 0, 0xefbeadde);

    const reply = await readInWorker(weights.memory, markers.map(([o, b]) => [o, b.length]));
    assert.ok(reply.ok, reply.ok ? "" : reply.message);
    assert.deepEqual(reply.slices, markers.map(([, bytes]) => bytes));
    assert.equal(reply.wasmWords[2], 0xefbeadde);
  } finally {
    Deno.removeSync(path);
  }
});
