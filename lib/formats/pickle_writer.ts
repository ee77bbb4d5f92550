/**
 * A small pickle writer (protocol 2) for the objects a PyTorch checkpoint is
 * made of: strings, integers, booleans, tuples, globals, REDUCE calls, dicts
 * and persistent ids.
 *
 * It writes the same opcodes CPython's pickler writes for those objects, in
 * the same order, including the memo: every str, tuple, global and reduced
 * object is stored with BINPUT when first written, and a JavaScript object that
 * appears again is written as BINGET, just as CPython refers back to a Python
 * object it has already pickled (its memo is keyed by object identity). Plain
 * JavaScript strings stand for fresh str objects; wrap a string in {@link PyStr}
 * and reuse the wrapper to stand for one shared str object.
 *
 * @example
 * ```ts
 * import { dumpPickle, PyGlobal, PyReduce } from "./pickle_writer.ts";
 * const orderedDict = new PyGlobal("collections", "OrderedDict");
 * const bytes = dumpPickle(new PyReduce(orderedDict, [], [["a", 1]]));
 * // same bytes as pickle.dumps(OrderedDict(a=1), protocol=2)
 * ```
 *
 * @module
 */

import {
  BINGET,
  BININT,
  BININT1,
  BININT2,
  BINPERSID,
  BINPUT,
  BINUNICODE,
  EMPTY_DICT,
  EMPTY_TUPLE,
  GLOBAL,
  LONG1,
  LONG_BINGET,
  LONG_BINPUT,
  MARK,
  NEWFALSE,
  NEWTRUE,
  NONE,
  PROTO,
  REDUCE,
  SETITEM,
  SETITEMS,
  STOP,
  TUPLE,
  TUPLE1,
  TUPLE2,
  TUPLE3,
} from "./pickle_opcodes.ts";

/** A Python global (`module.name`), written as GLOBAL. */
export class PyGlobal {
  /** The module, e.g. `"torch._utils"`. */
  readonly module: string;
  /** The attribute, e.g. `"_rebuild_tensor_v2"`. */
  readonly name: string;

  /**
   * Names a global.
   *
   * @param module The module.
   * @param name The attribute.
   */
  constructor(module: string, name: string) {
    this.module = module;
    this.name = name;
  }
}

/** One Python str object; the same instance written twice is memo-referenced. */
export class PyStr {
  /** The text. */
  readonly value: string;

  /**
   * Makes one str object.
   *
   * @param value The text.
   */
  constructor(value: string) {
    this.value = value;
  }
}

/** `func(*args)`, optionally followed by dict items set on the result (like OrderedDict). */
export class PyReduce {
  /** The callable, a global. */
  readonly func: PyGlobal;
  /** The argument tuple. */
  readonly args: readonly PickleValue[];
  /** Key/value pairs stored into the result with SETITEM(S). */
  readonly dictItems: readonly (readonly [PickleValue, PickleValue])[];

  /**
   * Describes the call.
   *
   * @param func The callable.
   * @param args The argument tuple.
   * @param dictItems Key/value pairs stored into the result.
   */
  constructor(
    func: PyGlobal,
    args: readonly PickleValue[],
    dictItems: readonly (readonly [PickleValue, PickleValue])[] = [],
  ) {
    this.func = func;
    this.args = args;
    this.dictItems = dictItems;
  }
}

/** A plain Python dict, written as EMPTY_DICT then SETITEM(S). */
export class PyDict {
  /** The key/value pairs in insertion order. */
  readonly items: readonly (readonly [PickleValue, PickleValue])[];

  /**
   * Makes a dict.
   *
   * @param items The key/value pairs in insertion order.
   */
  constructor(items: readonly (readonly [PickleValue, PickleValue])[]) {
    this.items = items;
  }
}

/** A persistent id: the unpickler calls `persistent_load(pid)` to get the object. */
export class PyPersistentId {
  /** The id, usually a tuple. */
  readonly pid: PickleValue;

  /**
   * Wraps a persistent id.
   *
   * @param pid The id.
   */
  constructor(pid: PickleValue) {
    this.pid = pid;
  }
}

/**
 * A value the writer can pickle. Arrays are tuples; `number` must be an
 * integer; a plain `string` is a fresh str object.
 */
export type PickleValue =
  | null
  | boolean
  | number
  | string
  | readonly PickleValue[]
  | PyGlobal
  | PyStr
  | PyReduce
  | PyDict
  | PyPersistentId;

/** CPython writes dict items in batches of this many per SETITEMS. */
const BATCH_SIZE = 1000;

/** A growable byte buffer. */
class ByteSink {
  #bytes = new Uint8Array(1024);
  #length = 0;

  #reserve(n: number): void {
    if (this.#length + n <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < this.#length + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = bigger;
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = b;
  }

  uint16(v: number): void {
    this.byte(v & 0xff);
    this.byte((v >>> 8) & 0xff);
  }

  uint32(v: number): void {
    this.uint16(v & 0xffff);
    this.uint16((v >>> 16) & 0xffff);
  }

  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#bytes.set(b, this.#length);
    this.#length += b.length;
  }

  result(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }
}

const encoder = new TextEncoder();

/** Pickles one value with protocol 2, mirroring CPython's opcode choice and memo. */
class Pickler {
  readonly out = new ByteSink();
  #memo = new Map<object, number>();
  #memoSize = 0;

  /** Stores the value just written in the next memo slot; `key` is its identity, if shared. */
  #memoize(key: object | null): void {
    const index = this.#memoSize++;
    if (key !== null) this.#memo.set(key, index);
    if (index < 256) {
      this.out.byte(BINPUT);
      this.out.byte(index);
    } else {
      this.out.byte(LONG_BINPUT);
      this.out.uint32(index);
    }
  }

  /** Writes a memo reference if `key` was written before; returns whether it did. */
  #fromMemo(key: object): boolean {
    const index = this.#memo.get(key);
    if (index === undefined) return false;
    if (index < 256) {
      this.out.byte(BINGET);
      this.out.byte(index);
    } else {
      this.out.byte(LONG_BINGET);
      this.out.uint32(index);
    }
    return true;
  }

  save(value: PickleValue): void {
    if (value === null) return this.out.byte(NONE);
    if (typeof value === "boolean") return this.out.byte(value ? NEWTRUE : NEWFALSE);
    if (typeof value === "number") return this.#saveInt(value);
    if (typeof value === "string") return this.#saveStr(value, null);
    if (value instanceof PyPersistentId) {
      this.save(value.pid);
      return this.out.byte(BINPERSID);
    }
    if (this.#fromMemo(value)) return;
    if (value instanceof PyStr) return this.#saveStr(value.value, value);
    if (value instanceof PyGlobal) {
      this.out.byte(GLOBAL);
      this.out.bytes(encoder.encode(`${value.module}\n${value.name}\n`));
      return this.#memoize(value);
    }
    if (value instanceof PyReduce) {
      this.save(value.func);
      this.save(value.args);
      this.out.byte(REDUCE);
      this.#memoize(value);
      return this.#saveItems(value.dictItems);
    }
    if (value instanceof PyDict) {
      this.out.byte(EMPTY_DICT);
      this.#memoize(value);
      return this.#saveDictItems(value.items);
    }
    return this.#saveTuple(value as readonly PickleValue[]);
  }

  #saveInt(v: number): void {
    if (!Number.isSafeInteger(v)) {
      throw new RangeError(`pickle writer: expected an integer, found ${v}`);
    }
    if (v >= 0 && v <= 0xff) {
      this.out.byte(BININT1);
      this.out.byte(v);
    } else if (v >= 0 && v <= 0xffff) {
      this.out.byte(BININT2);
      this.out.uint16(v);
    } else if (v >= -0x80000000 && v <= 0x7fffffff) {
      this.out.byte(BININT);
      this.out.uint32(v >>> 0);
    } else {
      // LONG1: little-endian two's complement in the fewest bytes that keep the sign.
      const bytes: number[] = [];
      let x = BigInt(v);
      const negative = x < 0n;
      for (;;) {
        const b = Number(x & 0xffn);
        bytes.push(b);
        x >>= 8n;
        const signBit = (b & 0x80) !== 0;
        if ((x === 0n && !signBit && !negative) || (x === -1n && signBit && negative)) break;
      }
      this.out.byte(LONG1);
      this.out.byte(bytes.length);
      this.out.bytes(Uint8Array.from(bytes));
    }
  }

  #saveStr(text: string, key: object | null): void {
    const utf8 = encoder.encode(text);
    this.out.byte(BINUNICODE);
    this.out.uint32(utf8.length);
    this.out.bytes(utf8);
    this.#memoize(key);
  }

  #saveTuple(items: readonly PickleValue[]): void {
    if (items.length === 0) return this.out.byte(EMPTY_TUPLE); // the empty tuple is not memoized
    if (items.length <= 3) {
      for (const item of items) this.save(item);
      this.out.byte([TUPLE1, TUPLE2, TUPLE3][items.length - 1]);
    } else {
      this.out.byte(MARK);
      for (const item of items) this.save(item);
      this.out.byte(TUPLE);
    }
    this.#memoize(items);
  }

  /**
   * Dict items, batched as CPython does for an iterator of items (the
   * `dictitems` of a REDUCE, e.g. an OrderedDict): MARK … SETITEMS per 1000
   * items, and a lone last item as SETITEM.
   */
  #saveItems(items: readonly (readonly [PickleValue, PickleValue])[]): void {
    let i = 0;
    while (i < items.length) {
      if (items.length - i === 1) {
        this.save(items[i][0]);
        this.save(items[i][1]);
        this.out.byte(SETITEM);
        return;
      }
      this.out.byte(MARK);
      for (let count = 0; count < BATCH_SIZE && i < items.length; count++, i++) {
        this.save(items[i][0]);
        this.save(items[i][1]);
      }
      this.out.byte(SETITEMS);
    }
  }

  /**
   * The items of an exact dict, batched as CPython's `batch_dict_exact`: a
   * one-item dict uses SETITEM; otherwise MARK … SETITEMS batches of up to
   * 1000, repeated while a batch was full (so 1000 items end with an empty
   * MARK SETITEMS, as CPython writes).
   */
  #saveDictItems(items: readonly (readonly [PickleValue, PickleValue])[]): void {
    if (items.length === 0) return;
    if (items.length === 1) {
      this.save(items[0][0]);
      this.save(items[0][1]);
      this.out.byte(SETITEM);
      return;
    }
    let i = 0;
    let count: number;
    do {
      this.out.byte(MARK);
      for (count = 0; count < BATCH_SIZE && i < items.length; count++, i++) {
        this.save(items[i][0]);
        this.save(items[i][1]);
      }
      this.out.byte(SETITEMS);
    } while (count === BATCH_SIZE);
  }
}

/**
 * Pickles a value with protocol 2, byte for byte as CPython's `pickle.dumps(obj,
 * protocol=2)` would for the equivalent Python object.
 *
 * @param value The value to pickle.
 * @returns The pickle bytes, from PROTO 2 to STOP.
 */
export function dumpPickle(value: PickleValue): Uint8Array {
  const pickler = new Pickler();
  pickler.out.byte(PROTO);
  pickler.out.byte(2);
  pickler.save(value);
  pickler.out.byte(STOP);
  return pickler.out.result();
}
