/**
 * Utf8Stream against the platform's TextDecoder on the whole input: emoji split at every byte
 * boundary, and random (often invalid) bytes split at random places.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Utf8Stream } from "../lib/generate/utf8_stream.ts";

const encoder = new TextEncoder();
const whole = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Feeds `pieces` one by one; returns each push's text and the flushed tail. */
function streamed(pieces: Uint8Array[]): { texts: string[]; tail: string } {
  const stream = new Utf8Stream();
  return { texts: pieces.map((piece) => stream.push(piece)), tail: stream.flush() };
}

Deno.test("Utf8Stream: an emoji split at every byte boundary appears once, whole", () => {
  const text = "a😀b";
  const bytes = encoder.encode(text); // 1 + 4 + 1 bytes
  for (let cut1 = 0; cut1 <= bytes.length; cut1++) {
    for (let cut2 = cut1; cut2 <= bytes.length; cut2++) {
      const pieces = [bytes.subarray(0, cut1), bytes.subarray(cut1, cut2), bytes.subarray(cut2)];
      const { texts, tail } = streamed(pieces);
      assert.equal(texts.join("") + tail, text, `cuts ${cut1}, ${cut2}`);
      assert.equal(tail, "");
      for (const piece of texts) {
        assert.ok(!piece.includes("\ufffd"), `a broken character was emitted: ${piece}`);
      }
      // The emoji shows up in the push that delivers its last byte (byte 4), not earlier.
      const done = [cut1, cut2, Infinity].findIndex((cut) => cut >= 5);
      assert.ok(texts[done].includes("😀"), `cuts ${cut1}, ${cut2}: ${JSON.stringify(texts)}`);
    }
  }
});

Deno.test("Utf8Stream: one byte at a time, held bytes are counted as pending", () => {
  const stream = new Utf8Stream();
  const bytes = encoder.encode("é€😀");
  const out: string[] = [];
  const pending: number[] = [];
  for (const byte of bytes) {
    out.push(stream.push(new Uint8Array([byte])));
    pending.push(stream.pending);
  }
  assert.deepEqual(out, ["", "é", "", "", "€", "", "", "", "😀"]);
  assert.deepEqual(pending, [1, 0, 1, 2, 0, 1, 2, 3, 0]);
  assert.equal(stream.flush(), "");
});

Deno.test("Utf8Stream: incomplete tail becomes one U+FFFD at flush, like TextDecoder", () => {
  const bytes = new Uint8Array([0x41, 0xf0, 0x9f, 0x98]);
  const { texts, tail } = streamed([bytes]);
  assert.equal(texts[0], "A");
  assert.equal(tail, "\ufffd");
  assert.equal(texts[0] + tail, whole(bytes));
});

Deno.test("Utf8Stream: invalid bytes become U+FFFD as soon as they cannot complete", () => {
  const stream = new Utf8Stream();
  assert.equal(stream.push(new Uint8Array([0xf0])), ""); // may still become an emoji
  assert.equal(stream.push(new Uint8Array([0x41])), "\ufffdA"); // cannot: replace, keep A
  assert.equal(stream.push(new Uint8Array([0xff])), "\ufffd"); // never valid
  assert.equal(stream.push(new Uint8Array([0xed, 0xa0])), "\ufffd\ufffd"); // surrogate
  assert.equal(stream.push(new Uint8Array([0xe0, 0x80])), "\ufffd\ufffd"); // overlong
  assert.equal(stream.push(new Uint8Array([0xf4, 0x90])), "\ufffd\ufffd"); // above U+10FFFF
});

Deno.test("Utf8Stream: random bytes in random pieces equal TextDecoder on the whole", () => {
  let seed = 12345;
  const next = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  // Bytes biased towards UTF-8 structure: lead bytes, continuation bytes, ASCII, edge bytes.
  const palette = [
    0x41,
    0x7f,
    0x80,
    0x8f,
    0x90,
    0x9f,
    0xa0,
    0xbf,
    0xc0,
    0xc1,
    0xc2,
    0xdf,
    0xe0,
    0xed,
    0xef,
    0xf0,
    0xf4,
    0xf5,
    0xff,
  ];
  for (let round = 0; round < 2000; round++) {
    const length = next(24);
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = next(3) === 0 ? next(256) : palette[next(19)];
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < length;) {
      const size = 1 + next(5);
      pieces.push(bytes.subarray(at, at + size));
      at += size;
    }
    const { texts, tail } = streamed(pieces);
    assert.equal(texts.join("") + tail, whole(bytes), `bytes ${Array.from(bytes)}`);
  }
});

Deno.test("Utf8Stream: real text with every script width, split everywhere", () => {
  const text = "Hello, мир! 你好 🌍👩‍👩‍👧 ok";
  const bytes = encoder.encode(text);
  for (let size = 1; size <= 7; size++) {
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
    const { texts, tail } = streamed(pieces);
    assert.equal(texts.join("") + tail, text);
  }
});
