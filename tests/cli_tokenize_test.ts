/**
 * The `tokenize` command's output formats, with hand-written expected output (ids from Meta's
 * tests and from tiktoken's Rust core).
 */

import assert from "node:assert/strict";
import { readableBytes, runTokenize } from "../lib/cli/tokenize.ts";
import { ours, rustTiktoken } from "./helpers/llama3_tokenizer.ts";

const defaults = { allowSpecial: false, bos: true, json: false, show: false };

Deno.test("tokenize: ids on one line, BOS first unless bos is false", async () => {
  const tok = await ours();
  const text = "This is a test sentence.";
  assert.equal(runTokenize(tok, text, defaults), "128000 2028 374 264 1296 11914 13");
  assert.equal(runTokenize(tok, text, { ...defaults, bos: false }), "2028 374 264 1296 11914 13");
  assert.equal(
    runTokenize(tok, text, { ...defaults, json: true }),
    "[128000,2028,374,264,1296,11914,13]",
  );
  assert.equal(runTokenize(tok, "", { ...defaults, json: true, bos: false }), "[]");
  assert.equal(runTokenize(tok, "", { ...defaults, bos: false }), "");
});

Deno.test("tokenize: special-token text is text unless allowSpecial", async () => {
  const tok = await ours();
  const rust = await rustTiktoken();
  const plain = runTokenize(tok, "<|eot_id|>", { ...defaults, bos: false });
  assert.equal(plain, rust.encode("<|eot_id|>").join(" "));
  assert.equal(
    runTokenize(tok, "<|eot_id|>", { ...defaults, allowSpecial: true }),
    "128000 128009",
  );
});

Deno.test("tokenize --show: one token per line, every byte visible", async () => {
  const tok = await ours();
  // "👋" is F0 9F 91 8B; tiktoken encodes " 👋" as " \xF0\x9F\x91" + "\x8B".
  assert.equal(
    runTokenize(tok, "Hi 👋", { ...defaults, show: true }),
    [
      "128000  <|begin_of_text|>",
      ' 13347  "Hi"',
      ' 62904  " \\xF0\\x9F\\x91"',
      '   233  "\\x8B"',
    ].join("\n"),
  );
  assert.equal(
    runTokenize(tok, 'a\u00a0\u200d"\\\n<|eot_id|>é', {
      ...defaults,
      show: true,
      allowSpecial: true,
      bos: false,
    }),
    [
      '    64  "a"',
      '  4194  "\\u00a0"',
      '102470  "\\u200d"',
      ' 84483  "\\"\\\\\\n"',
      "128009  <|eot_id|>",
      '   978  "é"',
    ].join("\n"),
  );
});

Deno.test("tokenize --show --json: id, lossy text, exact bytes in hex", async () => {
  const tok = await ours();
  const out = runTokenize(tok, "Hi 👋", { ...defaults, show: true, json: true });
  assert.deepEqual(JSON.parse(out), [
    {
      id: 128000,
      text: "<|begin_of_text|>",
      bytes: "3c7c626567696e5f6f665f746578747c3e",
      special: true,
    },
    { id: 13347, text: "Hi", bytes: "4869" },
    { id: 62904, text: " \ufffd", bytes: "20f09f91" },
    { id: 233, text: "\ufffd", bytes: "8b" },
  ]);
  // A leading U+FEFF is kept, not dropped as a byte-order mark.
  assert.deepEqual(
    JSON.parse(runTokenize(tok, "\ufeff", { ...defaults, show: true, json: true, bos: false })),
    [
      { id: 3305, text: "\ufeff", bytes: "efbbbf" },
    ],
  );
});

Deno.test("readableBytes: escapes and ill-formed UTF-8", () => {
  const show = (...bytes: number[]) => readableBytes(new Uint8Array(bytes));
  const text = (s: string) => readableBytes(new TextEncoder().encode(s));
  assert.equal(text("plain text, café, 東京, 😀"), '"plain text, café, 東京, 😀"');
  assert.equal(text('"\\\n\r\t\u0000\u007f'), '"\\"\\\\\\n\\r\\t\\u0000\\u007f"');
  assert.equal(
    text("\u00a0\u2028\u3000\ufeff\u200d\u0085 "),
    '"\\u00a0\\u2028\\u3000\\ufeff\\u200d\\u0085 "',
  );
  assert.equal(text("\u{e0067}"), '"\\udb40\\udc67"'); // an astral format character (tag)
  assert.equal(show(0x80), '"\\x80"'); // stray continuation byte
  assert.equal(show(0xc0, 0x80), '"\\xC0\\x80"'); // overlong NUL
  assert.equal(show(0xe0, 0x80, 0x80), '"\\xE0\\x80\\x80"'); // overlong
  assert.equal(show(0xed, 0xa0, 0x80), '"\\xED\\xA0\\x80"'); // a surrogate
  assert.equal(show(0xf4, 0x90, 0x80, 0x80), '"\\xF4\\x90\\x80\\x80"'); // above U+10FFFF
  assert.equal(show(0xe2, 0x82), '"\\xE2\\x82"'); // cut short
  assert.equal(show(0xe2, 0x82, 0x41), '"\\xE2\\x82A"');
  assert.equal(show(0xff, 0x41, 0xe2, 0x82, 0xac), '"\\xFFA€"');
  assert.equal(show(), '""');
});
