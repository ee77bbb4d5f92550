/**
 * Mutations of the fuzzer: each takes a seed input and a random source and returns a damaged
 * copy. Three families:
 *
 * - bytes: bit flips, random bytes, truncation, inserted, deleted and duplicated runs, and
 *   length fields overwritten with boundary values (0, 1, 0x7f.., 0xff.., "a little more than
 *   the file");
 * - pickle: opcodes found by a light scan of the pickle are replaced, removed, duplicated, or
 *   followed by an inserted opcode (BUILD, APPENDS, REDUCE, a long LONG4, a GLOBAL with an
 *   odd name, a huge MARK run…), and their arguments changed;
 * - JSON: a random value of the parsed document is replaced (huge and non-finite numbers,
 *   deep nesting, long strings with escapes, other types), a key removed or renamed, then
 *   the document re-serialised.
 *
 * Every choice comes from the caller's {@linkcode Random}, so a seed replays a run exactly.
 *
 * @example
 * ```ts
 * import { mutateBytes, Random } from "./mutate.ts";
 *
 * const random = new Random(1);
 * const damaged = mutateBytes(new Uint8Array([1, 2, 3, 4]), random);
 * ```
 *
 * @module
 */

import { Xoshiro128StarStar } from "../lib/generate/random.ts";

/** A seeded random source with the helpers mutations need. */
export class Random {
  #source: Xoshiro128StarStar;

  /** @param seed Any integer; the same seed gives the same sequence. */
  constructor(seed: number) {
    this.#source = Xoshiro128StarStar.fromSeed(seed);
  }

  /** An integer in `[0, n)`. */
  below(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.#source.nextFloat() * n);
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** `true` with probability `p`. */
  chance(p: number): boolean {
    return this.#source.nextFloat() < p;
  }

  /** A uniformly random byte. */
  byte(): number {
    return this.#source.nextUint32() & 0xff;
  }
}

/** Values that break length and count fields. */
function boundary(random: Random, fileLength: number): number {
  return random.pick([
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x10000,
    0x7fffffff,
    0x80000000,
    0xfffffffe,
    0xffffffff,
    fileLength,
    fileLength + 1,
    fileLength - 1,
    fileLength * 2,
    random.below(fileLength + 1),
  ]);
}

/**
 * One or a few byte-level mutations of `input`.
 *
 * @param input The seed (not modified).
 * @param random The random source.
 * @returns The damaged copy.
 */
export function mutateBytes(input: Uint8Array, random: Random): Uint8Array {
  let bytes: Uint8Array = input.slice();
  const rounds = 1 + random.below(random.chance(0.2) ? 8 : 2);
  for (let r = 0; r < rounds; r++) bytes = mutateOnce(bytes, random);
  return bytes;
}

function mutateOnce(bytes: Uint8Array, random: Random): Uint8Array {
  const n = bytes.length;
  const at = random.below(n);
  switch (random.below(9)) {
    case 0: { // bit flips
      const out = bytes.slice();
      for (let i = 0, k = 1 + random.below(4); i < k && n > 0; i++) {
        out[random.below(n)] ^= 1 << random.below(8);
      }
      return out;
    }
    case 1: { // random bytes
      const out = bytes.slice();
      for (let i = 0, k = 1 + random.below(8); i < k && n > 0; i++) {
        out[random.below(n)] = random.byte();
      }
      return out;
    }
    case 2: // truncation
      return bytes.slice(0, random.chance(0.5) ? at : n - random.below(Math.min(n, 64) + 1));
    case 3: { // insert a run
      const run = new Uint8Array(1 + random.below(random.chance(0.1) ? 4096 : 16));
      if (random.chance(0.5)) run.fill(random.byte());
      else for (let i = 0; i < run.length; i++) run[i] = random.byte();
      return concat(bytes.subarray(0, at), run, bytes.subarray(at));
    }
    case 4: // delete a run
      return concat(bytes.subarray(0, at), bytes.subarray(Math.min(n, at + 1 + random.below(32))));
    case 5: { // duplicate a run
      const end = Math.min(n, at + 1 + random.below(256));
      return concat(bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end));
    }
    default: { // a length field: a 16-, 32- or 64-bit little-endian boundary value
      const out = bytes.slice();
      const width = random.pick([2, 4, 4, 8]);
      if (n < width) return out;
      const where = random.chance(0.5) ? at - (at % width) : at;
      const pos = Math.min(where, n - width);
      const view = new DataView(out.buffer);
      const value = boundary(random, n);
      if (width === 2) view.setUint16(pos, value & 0xffff, true);
      else if (width === 4) view.setUint32(pos, value >>> 0, true);
      else view.setBigUint64(pos, random.chance(0.3) ? 0xffffffffffffffffn : BigInt(value), true);
      return out;
    }
  }
}

/** Bytes of each pickle opcode's argument (−1: a newline-ended text; −4: a u32 length…). */
const ARGUMENT: ReadonlyMap<number, number> = new Map([
  [0x80, 1], // PROTO
  [0x95, 8], // FRAME
  [0x4a, 4], // BININT
  [0x4b, 1], // BININT1
  [0x4d, 2], // BININT2
  [0x47, 8], // BINFLOAT
  [0x71, 1], // BINPUT
  [0x72, 4], // LONG_BINPUT
  [0x68, 1], // BINGET
  [0x6a, 4], // LONG_BINGET
  [0x8a, -1], // LONG1: u8 length
  [0x8c, -1], // SHORT_BINUNICODE
  [0x55, -1], // SHORT_BINSTRING
  [0x43, -1], // SHORT_BINBYTES
  [0x8b, -4], // LONG4: u32 length
  [0x58, -4], // BINUNICODE
  [0x54, -4], // BINSTRING
  [0x42, -4], // BINBYTES
  [0x8d, -8], // BINUNICODE8
  [0x8e, -8], // BINBYTES8
  [0x63, -10], // GLOBAL: two lines
]);

/** Where each opcode starts, by a scan that follows argument lengths (stops when lost). */
export function pickleOpcodes(bytes: Uint8Array): number[] {
  const starts: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  while (pos < bytes.length && starts.length < 100_000) {
    starts.push(pos);
    const op = bytes[pos++];
    const arg = ARGUMENT.get(op) ?? 0;
    if (arg > 0) pos += arg;
    else if (arg === -1) pos += 1 + (bytes[pos] ?? 0);
    else if (arg === -4) pos += pos + 4 <= bytes.length ? 4 + view.getUint32(pos, true) : 4;
    else if (arg === -8) {
      pos += pos + 8 <= bytes.length ? 8 + Number(view.getBigUint64(pos, true) & 0xffffffn) : 8;
    } else if (arg === -10) {
      for (let lines = 0; lines < 2 && pos < bytes.length; pos++) {
        if (bytes[pos] === 0x0a) lines++;
      }
    }
    if (op === 0x2e) break; // STOP
  }
  return starts;
}

const encoder = new TextEncoder();

/** Opcode sequences worth inserting: each once broke a reader. */
function pickleSnippet(random: Random): Uint8Array {
  const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
  switch (random.below(12)) {
    case 0:
      return Uint8Array.of(0x62); // BUILD
    case 1:
      return Uint8Array.of(0x7d, 0x8c, 5, ...encoder.encode("numel"), 0x8c, 1, 0x78, 0x73, 0x62); // {numel: "x"} BUILD
    case 2: { // MARK, many items, APPENDS / TUPLE / SETITEMS
      const k = random.pick([10, 1000, 100_000]);
      const out = new Uint8Array(2 + k);
      out[0] = 0x28;
      out.fill(0x4e, 1, 1 + k); // NONE
      out[1 + k] = random.pick([0x65, 0x74, 0x75, 0x90]); // APPENDS TUPLE SETITEMS ADDITEMS
      return out;
    }
    case 3: { // LONG4 of many bytes
      const k = random.pick([9, 100, 300_000]);
      const out = new Uint8Array(5 + k).fill(0x11);
      out.set([0x8b, ...u32(k)]);
      return out;
    }
    case 4: { // GLOBAL with an Object.prototype or escape-laden name
      const name = random.pick(["toString", "constructor", "__proto__", "valueOf", "\x1b[2J"]);
      return encoder.encode(`c${random.pick(["torch", "collections", "builtins"])}\n${name}\n`);
    }
    case 5:
      return Uint8Array.of(0x52); // REDUCE
    case 6:
      return Uint8Array.of(0x51); // BINPERSID
    case 7:
      return Uint8Array.of(0x81); // NEWOBJ
    case 8:
      return Uint8Array.of(0x6a, ...u32(random.below(2) ? 0xffffffff : 3)); // LONG_BINGET
    case 9:
      return Uint8Array.of(random.pick([0x29, 0x5d, 0x7d, 0x8f])); // empty tuple/list/dict/set
    case 10: { // a long string
      const k = random.pick([300, 70_000]);
      const out = new Uint8Array(5 + k).fill(0x41);
      out.set([0x58, ...u32(k)]);
      return out;
    }
    default:
      return Uint8Array.of(random.pick([0x30, 0x31, 0x32, 0x2e, 0x28, 0x73, 0x61])); // stack ops
  }
}

/**
 * One or a few opcode-level mutations of a pickle.
 *
 * @param input The pickle (not modified).
 * @param random The random source.
 * @returns The damaged pickle.
 */
export function mutatePickle(input: Uint8Array, random: Random): Uint8Array {
  let bytes = input;
  for (let r = 0, rounds = 1 + random.below(3); r < rounds; r++) {
    const starts = pickleOpcodes(bytes);
    if (starts.length === 0) return mutateBytes(bytes, random);
    const i = random.below(starts.length);
    const start = starts[i];
    const end = starts[i + 1] ?? bytes.length;
    switch (random.below(6)) {
      case 0: // remove the opcode
        bytes = concat(bytes.subarray(0, start), bytes.subarray(end));
        break;
      case 1: // duplicate it
        bytes = concat(bytes.subarray(0, end), bytes.subarray(start, end), bytes.subarray(end));
        break;
      case 2: { // replace the opcode byte, keep the argument
        const out = bytes.slice();
        out[start] = random.chance(0.5) ? random.byte() : pickleSnippet(random)[0];
        bytes = out;
        break;
      }
      case 3: { // change the argument
        const out = bytes.slice();
        for (let k = start + 1; k < end && k < start + 9; k++) {
          if (random.chance(0.5)) out[k] = random.chance(0.5) ? 0xff : random.byte();
        }
        bytes = out;
        break;
      }
      default: // insert a snippet before it
        bytes = concat(bytes.subarray(0, start), pickleSnippet(random), bytes.subarray(start));
    }
  }
  return bytes;
}

/** JSON values that once broke a reader. */
function hostileJsonValue(random: Random): unknown {
  switch (random.below(10)) {
    case 0:
      return random.pick([1e400, -1e400, 2 ** 53 + 2, 1e6, 1e7, 1e15, -1, 0, 0.5, NaN]);
    case 1: { // deep nesting
      const depth = random.pick([50, 100, 5000, 20_000]);
      return {
        $raw: random.chance(0.5)
          ? "[".repeat(depth) + "]".repeat(depth)
          : '{"a":'.repeat(depth) + "1" + "}".repeat(depth),
      };
    }
    case 2:
      return random.pick(["", "\x1b[2J\x1b]0;x\x07", "x".repeat(100_000), "<|eot_id|>", "Ġ"]);
    case 3:
      return random.pick([null, true, false]);
    case 4:
      return random.pick([[], {}, [1, 2], { dtype: "F32" }]);
    case 5:
      return new Array(random.pick([10, 10_000])).fill(1);
    case 6:
      return random.below(1 << 20);
    case 7:
      return random.pick(["toString", "__proto__", "constructor"]);
    default:
      return random.below(256);
  }
}

/** Every value of a parsed JSON document, with a setter and (for object members) the key. */
function jsonSlots(
  root: unknown,
): Array<{ set(v: unknown): void; remove?(): void; rename?(k: string): void }> {
  const slots: Array<{ set(v: unknown): void; remove?(): void; rename?(k: string): void }> = [];
  const pending: unknown[] = [root];
  while (pending.length > 0 && slots.length < 200_000) {
    const item = pending.pop();
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) {
        slots.push({ set: (v) => (item[i] = v), remove: () => item.splice(i, 1) });
        pending.push(item[i]);
      }
    } else if (typeof item === "object" && item !== null) {
      const record = item as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        slots.push({
          set: (v) => (record[key] = v),
          remove: () => delete record[key],
          rename: (k) => {
            record[k] = record[key];
            delete record[key];
          },
        });
        pending.push(record[key]);
      }
    }
  }
  return slots;
}

/**
 * One or a few structure-aware mutations of a JSON document (falls back to bytes when the
 * input is not JSON).
 *
 * @param input UTF-8 JSON (not modified).
 * @param random The random source.
 * @returns The damaged document, UTF-8.
 */
export function mutateJson(input: Uint8Array, random: Random): Uint8Array {
  let root: unknown;
  try {
    root = JSON.parse(new TextDecoder().decode(input));
  } catch {
    return mutateBytes(input, random);
  }
  const raws: string[] = [];
  for (let r = 0, rounds = 1 + random.below(3); r < rounds; r++) {
    const slots = jsonSlots(root);
    if (slots.length === 0) break;
    const slot = random.pick(slots);
    const choice = random.below(10);
    if (choice === 0 && slot.remove) slot.remove();
    else if (choice === 1 && slot.rename) {
      slot.rename(random.pick(["__proto__", "constructor", "x", "\x1b[0m", "dim", "n_layers"]));
    } else {
      let value = hostileJsonValue(random);
      if (typeof value === "object" && value !== null && "$raw" in value) {
        raws.push((value as { $raw: string }).$raw);
        value = `$RAW${raws.length - 1}$`;
      }
      slot.set(value);
    }
  }
  let text = JSON.stringify(
    root,
    (_key, v) => typeof v === "number" && !Number.isFinite(v) ? `$NUM${v}$` : v,
  ) ?? "null";
  text = text.replace(
    /"\$NUM(-?Infinity|NaN)\$"/g,
    (_m, v) => v === "NaN" ? "NaN" : v.startsWith("-") ? "-1e400" : "1e400",
  );
  text = text.replace(/"\$RAW(\d+)\$"/g, (_m, i) => raws[Number(i)]);
  const bytes = new TextEncoder().encode(text);
  return random.chance(0.1) ? mutateBytes(bytes, random) : bytes;
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
