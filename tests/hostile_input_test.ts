/**
 * Hostile input, one regression test per class of damage the fuzzer (and an attacker before it)
 * found: each builds the smallest input that showed the fault and checks that the reader ends
 * in one short, typed error (or, where the input is fine, in the value Python would build).
 * None of these may end in a RangeError, a stack overflow, a hang or an out-of-memory abort.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CheckpointError, ConfigError, LlamaError, TokenizerError } from "../lib/errors.ts";
import { briefValue, excerpt } from "../lib/formats/excerpt.ts";
import { LIMITS } from "../lib/formats/limits.ts";
import { loadPickle, type PickleHooks } from "../lib/formats/pickle.ts";
import { readPth } from "../lib/formats/pth.ts";
import { readSafetensors } from "../lib/formats/safetensors.ts";
import { parseSafetensorsIndex } from "../lib/formats/safetensors_index.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { parseHuggingFaceConfig } from "../lib/model/hf_config.ts";
import { LLAMA3_SPLIT_PATTERN, parseTokenizerJson } from "../lib/tokenizer/hf_tokenizer.ts";
import { parseTokenizerModel } from "../lib/tokenizer/tokenizer.ts";
import { Pickle, pthArchive } from "./helpers/hostile.ts";

/** Runs `run`, which must throw `type` with a message matching `pattern`, short and clean. */
function assertClean(
  run: () => unknown,
  type: new (...args: never[]) => LlamaError,
  pattern: RegExp,
): void {
  assert.throws(run, (error: unknown) => {
    if (Deno.env.get("SHOW")) console.log(String(error).slice(0, 400));
    assert.ok(error instanceof type, `expected a ${type.name}, got ${error}`);
    const message = (error as Error).message;
    assert.match(message, pattern);
    assert.ok(message.length < 1000, `message of ${message.length} characters`);
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(message, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, "raw control characters");
    return true;
  });
}

/** A valid one-tensor state dict, `{"w": tensor of 4 f32}`, with a hook to insert opcodes. */
function statePickle(afterStorage?: (p: Pickle) => void): Uint8Array {
  return new Pickle().proto().emptyDict().str("w").rebuildTensor("0", 4, afterStorage).op("s")
    .stop().bytes();
}

const FOUR_FLOATS = { "0": new Uint8Array(16) };

/** Where the central directory entry of `name` starts. */
function centralEntry(bytes: Uint8Array, name: string): number {
  const wanted = new TextEncoder().encode(name);
  for (let at = 0; at + 46 < bytes.length; at++) {
    if (
      bytes[at] !== 0x50 || bytes[at + 1] !== 0x4b || bytes[at + 2] !== 1 || bytes[at + 3] !== 2
    ) {
      continue;
    }
    const n = bytes[at + 28] | (bytes[at + 29] << 8);
    if (n === wanted.length && wanted.every((b, i) => bytes[at + 46 + i] === b)) return at;
  }
  throw new Error(`no central entry ${name}`);
}

// --- zip ---------------------------------------------------------------------------------

Deno.test("hostile zip: a stored entry whose two sizes disagree is refused", async () => {
  const bytes = await pthArchive(statePickle(), FOUR_FLOATS);
  const at = centralEntry(bytes, "archive/data/0");
  new DataView(bytes.buffer).setUint32(at + 24, 0x7fff_fff0, true); // uncompressed size
  assertClean(
    () => readPth(bytes, "x.pth"),
    CheckpointError,
    /stored, but its central directory gives 16 bytes in the archive and 2147483632/,
  );
});

Deno.test("hostile zip: a corrupted local header (name or extra length) is refused", async () => {
  const good = await pthArchive(statePickle(), FOUR_FLOATS);
  const central = centralEntry(good, "archive/data/0");
  const local = new DataView(good.buffer).getUint32(central + 42, true);
  for (const [field, value] of [[26, 3], [26, 0xffff], [28, 0xffff], [28, 0xfff0]]) {
    const bytes = good.slice();
    new DataView(bytes.buffer).setUint16(local + field, value, true);
    assertClean(() => readPth(bytes, "x.pth"), CheckpointError, /zip entry|local header/);
  }
});

// --- pickle ------------------------------------------------------------------------------

const NO_GLOBALS: PickleHooks = {
  findClass(module, name) {
    throw new CheckpointError(`no globals here (${module}.${name})`);
  },
};

Deno.test("hostile pickle: BUILD on bytes, a set or a list is refused", () => {
  const targets: Array<[string, (p: Pickle) => Pickle]> = [
    ["bytes", (p) => p.raw(0x43, 1, 0x61)],
    ["a set", (p) => p.raw(0x8f)],
    ["a list", (p) => p.op("]")],
  ];
  for (const [what, push] of targets) {
    const pickle = push(new Pickle().proto()).emptyDict().str("x").int(1).op("s").op("b")
      .stop().bytes();
    assertClean(
      () => loadPickle(pickle, NO_GLOBALS, "p.pkl"),
      CheckpointError,
      new RegExp(`BUILD cannot set the state of ${what}`),
    );
  }
});

Deno.test("hostile pickle: BUILD cannot overwrite a validated storage's numel", async () => {
  // After BINPERSID, set numel to a string (the NaN comparison used to pass) or a huge int.
  for (
    const numel of [
      (p: Pickle) => p.str("x"),
      (p: Pickle) => p.raw(0x8a, 9, ...new Array(8).fill(0xff), 0x7f),
    ]
  ) {
    const pickle = statePickle((p) => numel(p.emptyDict().str("numel")).op("s").op("b"));
    const bytes = await pthArchive(pickle, { "0": new Uint8Array(4) });
    assertClean(() => readPth(bytes, "x.pth"), CheckpointError, /BUILD cannot set the state/);
  }
});

Deno.test("hostile pickle: APPENDS with 300,000 items works (no spread into one call)", () => {
  const p = new Pickle().proto().op("]").mark();
  for (let i = 0; i < 300_000; i++) p.int(i % 200);
  const list = loadPickle(p.op("e").stop().bytes(), NO_GLOBALS, "p.pkl") as number[];
  assert.equal(list.length, 300_000);
  assert.equal(list[299_999], 299_999 % 200);
});

Deno.test("hostile pickle: a REDUCE with a huge argument tuple is refused", () => {
  const hooks: PickleHooks = { findClass: () => (...args: unknown[]) => args.length };
  const p = new Pickle().proto().global("m", "f").mark();
  for (let i = 0; i < 200_000; i++) p.op("N");
  const pickle = p.tuple().op("R").stop().bytes();
  assertClean(
    () => loadPickle(pickle, hooks, "p.pkl"),
    CheckpointError,
    new RegExp(`REDUCE passes 200000 arguments; expected at most ${LIMITS.pickleCallArgs}`),
  );
});

Deno.test("hostile pickle: LONG4 of 300 KB is refused at once; LONG1 decodes exactly", () => {
  const n = 300_000;
  const long4 = new Pickle().proto().raw(0x8b, n & 0xff, (n >> 8) & 0xff, n >> 16, 0)
    .rawBytes(new Uint8Array(n).fill(0x11)).stop().bytes();
  const started = performance.now();
  assertClean(() => loadPickle(long4, NO_GLOBALS, "p.pkl"), CheckpointError, /300000 bytes/);
  assert.ok(performance.now() - started < 1000);
  // Python: pickle.dumps(2**64 - 1, 2) and (-2**63): LONG1 little-endian two's complement.
  const max = new Pickle().proto().raw(0x8a, 9, ...new Array(8).fill(0xff), 0).stop().bytes();
  assert.equal(loadPickle(max, NO_GLOBALS, "p.pkl"), 18446744073709551615n);
  const min = new Pickle().proto().raw(0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x80).stop().bytes();
  assert.equal(loadPickle(min, NO_GLOBALS, "p.pkl"), -9223372036854775808n);
});

Deno.test("hostile pickle: Object.prototype names are no storage classes", async () => {
  for (const name of ["toString", "constructor", "valueOf", "__proto__", "hasOwnProperty"]) {
    const pickle = new Pickle().proto().emptyDict().str("w").global("torch", name).stop()
      .bytes();
    const bytes = await pthArchive(pickle, {});
    assertClean(() => readPth(bytes, "x.pth"), CheckpointError, /unsupported class "torch\./);
  }
});

Deno.test("hostile pickle: a name with terminal escapes is quoted escaped and short", async () => {
  const name = "\x1b]0;pwned\x07\x1b[2J" + "A".repeat(70_000);
  const pickle = new Pickle().proto().global("os", name).stop().bytes();
  const bytes = await pthArchive(pickle, {});
  assertClean(() => readPth(bytes, "x.pth"), CheckpointError, /\\u\{1b\}\]0;pwned\\u\{7\}/);
  // A tensor name of 70,000 characters in a later message is cut too.
  const long = new Pickle().proto().emptyDict().str("\x1b" + "n".repeat(70_000))
    .rebuildTensor("0", 4, undefined, "DoubleStorage").op("s").stop().bytes();
  const archive = await pthArchive(long, FOUR_FLOATS);
  assertClean(
    () => readPth(archive, "x.pth"),
    CheckpointError,
    /tensor "\\u\{1b\}n+"… \(70001 characters\) is stored as/,
  );
});

// --- params.json / config.json -----------------------------------------------------------

const PARAMS = {
  dim: 64,
  n_layers: 2,
  n_heads: 4,
  n_kv_heads: 2,
  vocab_size: 256,
  multiple_of: 32,
  norm_eps: 1e-5,
  rope_theta: 500000,
};

function paramsWith(extra: string): string {
  return JSON.stringify(PARAMS).slice(0, -1) + "," + extra + "}";
}

Deno.test("hostile params.json: deep nesting under an unknown key is refused", () => {
  for (const depth of [5_000, 20_000]) {
    const deep = "[".repeat(depth) + "]".repeat(depth);
    assertClean(
      () => parseModelConfig(paramsWith(`"x": ${deep}`), "params.json"),
      ConfigError,
      new RegExp(`nested at most ${LIMITS.jsonDepth} levels`),
    );
  }
  // Within the limit it is kept (and frozen) as written.
  const ok = parseModelConfig(paramsWith(`"x": ${"[".repeat(30)}${"]".repeat(30)}`), "p");
  assert.ok(Object.isFrozen(ok.params.x));
});

Deno.test("hostile params.json: a huge n_layers is refused before any per-layer work", () => {
  for (const n of [1e6, 1e7, 2 ** 52]) {
    const started = performance.now();
    assertClean(
      () => parseModelConfig(JSON.stringify({ ...PARAMS, n_layers: n }), "params.json"),
      ConfigError,
      new RegExp(`"n_layers" to be at most ${LIMITS.layers}, found ${n}`),
    );
    assert.ok(performance.now() - started < 100);
  }
  const hf = JSON.stringify({
    architectures: ["LlamaForCausalLM"],
    hidden_size: 64,
    num_hidden_layers: 1e7,
    num_attention_heads: 4,
    vocab_size: 256,
    intermediate_size: 128,
  });
  assertClean(() => parseHuggingFaceConfig(hf, "config.json"), ConfigError, /num_hidden_layers/);
});

Deno.test("hostile params.json: 1e400 is reported as out of range, not as null", () => {
  assertClean(
    () => parseModelConfig(paramsWith(`"norm_eps": 1e400`).replace(/"norm_eps":1e-5,/, ""), "p"),
    ConfigError,
    /"norm_eps" to be a positive number, found a number beyond float range/,
  );
});

Deno.test("hostile params.json: a long value is quoted as a short excerpt", () => {
  const long = "\x1b[31m" + "x".repeat(6_000_000);
  assertClean(
    () => parseModelConfig(JSON.stringify({ ...PARAMS, dim: long }), "params.json"),
    ConfigError,
    /"dim" to be a positive integer, found "\\u\{1b\}\[31mx+"…/,
  );
});

// --- tokenizers --------------------------------------------------------------------------

Deno.test("hostile tokenizer.json: deep nesting, huge and duplicated tokens are clean errors", () => {
  const deep = '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000);
  assertClean(() => parseTokenizerJson(deep, "tokenizer.json"), TokenizerError, /nested/);
  const big = "Ġ".repeat(3_000_000);
  const file = (vocab: Record<string, number>) =>
    JSON.stringify({
      model: { type: "BPE", vocab, merges: [] },
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: LLAMA3_SPLIT_PATTERN } },
          { type: "ByteLevel", use_regex: false },
        ],
      },
    });
  assertClean(
    () => parseTokenizerJson(file({ [big]: 0 }), "tokenizer.json"),
    TokenizerError,
    new RegExp(`at most ${LIMITS.tokenBytes} bytes`),
  );
});

Deno.test("hostile tokenizer.model: a 1 MB token is refused with a short message", () => {
  const token = btoa("y".repeat(1_000_000));
  assertClean(
    () => parseTokenizerModel(new TextEncoder().encode(`${token} 0\n`), "tokenizer.model"),
    TokenizerError,
    /line 1: expected a token of at most/,
  );
});

// --- safetensors -------------------------------------------------------------------------

function safetensorsFile(header: string): Uint8Array {
  const text = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + text.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(text.length), true);
  bytes.set(text, 8);
  return bytes;
}

Deno.test("hostile safetensors: deep nesting, long names and escapes are clean errors", () => {
  const deep = `{"a": ${"[".repeat(50_000)}${"]".repeat(50_000)}}`;
  assertClean(() => readSafetensors(safetensorsFile(deep), "m"), CheckpointError, /nested/);
  const name = "\x1b[2J" + "t".repeat(100_000);
  assertClean(
    () => readSafetensors(safetensorsFile(JSON.stringify({ [name]: 5 })), "m"),
    CheckpointError,
    /expected tensor "\\u\{1b\}\[2Jt+"… \(100004 characters\) to be an object/,
  );
  const rank = JSON.stringify({
    a: { dtype: "F32", shape: new Array(10_000).fill(1), data_offsets: [0, 4] },
  });
  assertClean(() => readSafetensors(safetensorsFile(rank), "m"), CheckpointError, /at most 8/);
});

Deno.test("hostile safetensors index: deep nesting and long values are clean errors", () => {
  const deep = `{"weight_map": ${"[".repeat(50_000)}${"]".repeat(50_000)}}`;
  assertClean(() => parseSafetensorsIndex(deep, "i.json"), CheckpointError, /nested/);
  const bad = JSON.stringify({ weight_map: { ["\x1b" + "w".repeat(70_000)]: "../x" } });
  assertClean(() => parseSafetensorsIndex(bad, "i.json"), CheckpointError, /\\u\{1b\}w+"…/);
});

// --- the excerpt itself ------------------------------------------------------------------

Deno.test("excerpt: escapes controls, C1 and bidi characters; cuts long text", () => {
  assert.equal(excerpt("a\x1b[0m\u009b\u202e\n"), '"a\\u{1b}[0m\\u{9b}\\u{202e}\\u{a}"');
  assert.equal(excerpt("x".repeat(100), 5), '"xxxxx"… (100 characters)');
  assert.equal(briefValue({ a: [1, "b"] }), '{"a":[1,"b"]}');
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.equal(briefValue(deep), "[[[[[…]]]]]");
});
