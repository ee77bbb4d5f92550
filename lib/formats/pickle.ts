/**
 * A small pickle virtual machine: enough of Python's pickle format (protocols 2 to 5) to read
 * the `data.pkl` that `torch.save` writes, and nothing that runs code. Every global a pickle
 * names is resolved by the caller's {@linkcode PickleHooks.findClass}, which decides what is
 * allowed; there is no default class table.
 *
 * Python values become:
 * `None` → `null`, `bool` → `boolean`, `int` → `number` (or `bigint` beyond 2^53), `float` →
 * `number`, `str` → `string`, `bytes` → `Uint8Array`, `list` → array, `tuple` → frozen array,
 * `dict` → `Map` (keys compared as JS does: tuples by identity), `set`/`frozenset` → `Set`.
 *
 * @example
 * ```ts
 * import { loadPickle } from "./pickle.ts";
 *
 * const value = loadPickle(Deno.readFileSync("data.pkl"), {
 *   findClass(module, name) {
 *     if (module === "collections" && name === "OrderedDict") return () => new Map();
 *     throw new Error(`not allowed: ${module}.${name}`);
 *   },
 * }, "data.pkl");
 * ```
 *
 * @module
 */

import { CheckpointError } from "../errors.ts";
import { LIMITS } from "./limits.ts";
import {
  ADDITEMS,
  APPEND,
  APPENDS,
  BINBYTES,
  BINBYTES8,
  BINFLOAT,
  BINGET,
  BININT,
  BININT1,
  BININT2,
  BINPERSID,
  BINPUT,
  BINSTRING,
  BINUNICODE,
  BINUNICODE8,
  BUILD,
  DICT,
  DUP,
  EMPTY_DICT,
  EMPTY_LIST,
  EMPTY_SET,
  EMPTY_TUPLE,
  FRAME,
  FROZENSET,
  GLOBAL,
  LIST,
  LONG1,
  LONG4,
  LONG_BINGET,
  LONG_BINPUT,
  MARK,
  MEMOIZE,
  NEWFALSE,
  NEWOBJ,
  NEWOBJ_EX,
  NEWTRUE,
  NONE,
  POP,
  POP_MARK,
  PROTO,
  REDUCE,
  SETITEM,
  SETITEMS,
  SHORT_BINBYTES,
  SHORT_BINSTRING,
  SHORT_BINUNICODE,
  STACK_GLOBAL,
  STOP,
  TUPLE,
  TUPLE1,
  TUPLE2,
  TUPLE3,
} from "./pickle_opcodes.ts";

/** What a pickle may call: a global resolved by {@linkcode PickleHooks.findClass}. */
export type PickleCallable = (...args: unknown[]) => unknown;

/** The caller's answers to the questions a pickle asks. */
export interface PickleHooks {
  /**
   * Resolves a `module.name` global to a function. REDUCE, NEWOBJ and NEWOBJ_EX call it with
   * the pickled arguments. Throw (for example a CheckpointError) for anything not allowed.
   */
  findClass(module: string, name: string): PickleCallable;
  /** Resolves a persistent id (BINPERSID); without this hook BINPERSID is an error. */
  persistentLoad?(pid: unknown): unknown;
}

/**
 * Objects that want BUILD's state implement this symbol (Python's `__setstate__`). A `Map`
 * (an OrderedDict) keeps its items and ignores the state (a state dict's `_metadata`); BUILD on
 * any other value is an error.
 */
export const setState: unique symbol = Symbol("pickle.setState");

/** An object that accepts BUILD's state. */
export interface Buildable {
  [setState](state: unknown): void;
}

const HIGHEST_PROTOCOL = 5;
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Runs a pickle and returns the value it builds.
 *
 * @param bytes The pickle (for a `.pth`, the `data.pkl` entry).
 * @param hooks Resolves globals and persistent ids.
 * @param source Names the pickle in error messages, e.g. `model.pth (entry model/data.pkl)`.
 * @returns The unpickled value.
 * @throws {CheckpointError} On an unknown opcode, a malformed or truncated pickle.
 */
export function loadPickle(bytes: Uint8Array, hooks: PickleHooks, source: string): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let stack: unknown[] = [];
  const marks: unknown[][] = []; // the stacks saved by MARK (Python's metastack)
  const memo = new Map<number, unknown>();
  let pos = 0;
  let opStart = 0;

  const fail = (message: string, fix?: string): never => {
    throw new CheckpointError(`${message} (pickle byte ${opStart})`, {
      path: source,
      fix: fix ?? "the checkpoint is corrupt or was not written by torch.save: download it again",
    });
  };
  const need = (n: number): number => {
    if (pos + n > bytes.length) fail(`pickle ends inside an opcode's argument (needs ${n} bytes)`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const i32 = () => view.getInt32(need(4), true);
  const u64 = () => {
    const value = view.getBigUint64(need(8), true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${value} is too large`);
    return Number(value);
  };
  const take = (n: number) => {
    const at = need(n);
    return bytes.subarray(at, at + n);
  };
  const utf8 = (n: number) => {
    const raw = take(n).slice(); // copy: TextDecoder refuses views of a SharedArrayBuffer
    try {
      return textDecoder.decode(raw);
    } catch {
      return fail("a pickled string is not valid UTF-8");
    }
  };
  /** The text argument of GLOBAL: bytes up to a newline. */
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("pickle ends inside a GLOBAL name");
    return utf8(end - pos + 1).slice(0, -1);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail("pickle pops from an empty stack");
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail("pickle reads the top of an empty stack");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const saved = marks.pop();
    if (saved === undefined) fail("pickle expects a MARK that was never pushed");
    stack = saved!;
    return items;
  };
  const get = (index: number): unknown => {
    if (!memo.has(index)) fail(`pickle reads memo entry ${index}, which was never stored`);
    return memo.get(index);
  };
  const callable = (value: unknown, what: string): PickleCallable => {
    if (typeof value !== "function") fail(`${what} expects a callable, found ${describe(value)}`);
    return value as PickleCallable;
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) fail(`SETITEM(S) expects a dict, found ${describe(target)}`);
    if (items.length % 2 !== 0) fail("SETITEMS has a key without a value");
    const map = target as Map<unknown, unknown>;
    for (let i = 0; i < items.length; i += 2) map.set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target) || Object.isFrozen(target)) {
      fail(`APPEND(S) expects a list, found ${describe(target)}`);
    }
    // One push per item: spreading a huge APPENDS into one call overflows the call stack.
    for (const item of items) (target as unknown[]).push(item);
  };
  const addItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Set)) fail(`ADDITEMS expects a set, found ${describe(target)}`);
    for (const item of items) (target as Set<unknown>).add(item);
  };
  /** The arguments of a call, bounded: a call with a huge tuple would overflow the stack. */
  const callArgs = (args: unknown, what: string): unknown[] => {
    if (!Array.isArray(args)) fail(`${what} expects an argument tuple, found ${describe(args)}`);
    const list = args as unknown[];
    if (list.length > LIMITS.pickleCallArgs) {
      fail(`${what} passes ${list.length} arguments; expected at most ${LIMITS.pickleCallArgs}`);
    }
    return list;
  };
  const long = (n: number) => {
    if (n > LIMITS.pickleLongBytes) {
      fail(`a pickled integer has ${n} bytes; expected at most ${LIMITS.pickleLongBytes}`);
    }
    return decodeLong(take(n));
  };
  const resolve = (module: string, name: string): PickleCallable => {
    const found = hooks.findClass(module, name);
    return callable(found, `global ${module}.${name}`);
  };

  while (true) {
    opStart = pos;
    if (pos >= bytes.length) fail("pickle ends without a STOP opcode");
    const op = bytes[pos++];
    switch (op) {
      case PROTO: {
        const protocol = u8();
        if (protocol > HIGHEST_PROTOCOL) fail(`unsupported pickle protocol ${protocol}`);
        break;
      }
      case FRAME:
        u64(); // frames only group opcodes; the whole pickle is already in memory
        break;
      case STOP:
        return pop();
      case MARK:
        marks.push(stack);
        stack = [];
        break;
      case POP:
        pop();
        break;
      case POP_MARK:
        popMark();
        break;
      case DUP:
        stack.push(top());
        break;

      case NONE:
        stack.push(null);
        break;
      case NEWTRUE:
        stack.push(true);
        break;
      case NEWFALSE:
        stack.push(false);
        break;
      case BININT:
        stack.push(i32());
        break;
      case BININT1:
        stack.push(u8());
        break;
      case BININT2:
        stack.push(u16());
        break;
      case LONG1:
        stack.push(long(u8()));
        break;
      case LONG4: {
        const n = i32();
        if (n < 0) fail("LONG4 has a negative length");
        stack.push(long(n));
        break;
      }
      case BINFLOAT:
        stack.push(view.getFloat64(need(8), false)); // big-endian, unlike everything else
        break;

      case BINUNICODE:
        stack.push(utf8(u32()));
        break;
      case SHORT_BINUNICODE:
        stack.push(utf8(u8()));
        break;
      case BINUNICODE8:
        stack.push(utf8(u64()));
        break;
      case BINSTRING: {
        // Python 2 str: decoded as UTF-8 text, as torch.load(encoding="utf-8") does.
        const n = i32();
        if (n < 0) fail("BINSTRING has a negative length");
        stack.push(utf8(n));
        break;
      }
      case SHORT_BINSTRING:
        stack.push(utf8(u8()));
        break;
      case BINBYTES:
        stack.push(take(u32()).slice());
        break;
      case SHORT_BINBYTES:
        stack.push(take(u8()).slice());
        break;
      case BINBYTES8:
        stack.push(take(u64()).slice());
        break;

      case EMPTY_TUPLE:
        stack.push(Object.freeze([]));
        break;
      case TUPLE1:
        stack.push(Object.freeze([pop()]));
        break;
      case TUPLE2: {
        const b = pop();
        const a = pop();
        stack.push(Object.freeze([a, b]));
        break;
      }
      case TUPLE3: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(Object.freeze([a, b, c]));
        break;
      }
      case TUPLE: {
        const items = popMark(); // before `stack.push`: popMark replaces `stack`
        stack.push(Object.freeze(items));
        break;
      }
      case EMPTY_LIST:
        stack.push([]);
        break;
      case LIST: {
        const items = popMark();
        stack.push(items);
        break;
      }
      case APPEND: {
        const item = pop();
        appendItems(top(), [item]);
        break;
      }
      case APPENDS: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case EMPTY_DICT:
        stack.push(new Map());
        break;
      case DICT: {
        const map = new Map();
        setItems(map, popMark());
        stack.push(map);
        break;
      }
      case SETITEM: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case EMPTY_SET:
        stack.push(new Set());
        break;
      case ADDITEMS: {
        const items = popMark();
        addItems(top(), items);
        break;
      }
      case FROZENSET: {
        const set = new Set();
        addItems(set, popMark());
        stack.push(set);
        break;
      }

      case BINPUT:
        memo.set(u8(), top());
        break;
      case LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case MEMOIZE:
        memo.set(memo.size, top());
        break;
      case BINGET:
        stack.push(get(u8()));
        break;
      case LONG_BINGET:
        stack.push(get(u32()));
        break;

      case GLOBAL: {
        const module = line();
        const name = line();
        stack.push(resolve(module, name));
        break;
      }
      case STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          fail("STACK_GLOBAL expects a module and a name string");
        }
        stack.push(resolve(module as string, name as string));
        break;
      }
      case REDUCE: {
        const args = pop();
        const fn = callable(pop(), "REDUCE");
        stack.push(fn(...callArgs(args, "REDUCE")));
        break;
      }
      case NEWOBJ: {
        const args = pop();
        const cls = callable(pop(), "NEWOBJ");
        stack.push(cls(...callArgs(args, "NEWOBJ")));
        break;
      }
      case NEWOBJ_EX: {
        const kwargs = pop();
        const args = pop();
        const cls = callable(pop(), "NEWOBJ_EX");
        const list = callArgs(args, "NEWOBJ_EX");
        if (kwargs instanceof Map && kwargs.size > 0) fail("NEWOBJ_EX with keyword arguments");
        stack.push(cls(...list));
        break;
      }
      case BUILD: {
        const state = pop();
        build(top(), state, fail);
        break;
      }
      case BINPERSID: {
        const pid = pop();
        if (!hooks.persistentLoad) fail("pickle has a persistent id, but none are expected here");
        stack.push(hooks.persistentLoad!(pid));
        break;
      }

      default:
        fail(
          `unknown pickle opcode 0x${op.toString(16).padStart(2, "0")}` +
            (op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : "") +
            "; expected one of the opcodes torch.save writes (pickle protocol 2)",
        );
    }
  }
}

/**
 * BUILD: Python's `obj.__setstate__(state)`. Only objects that ask for state (those with
 * {@linkcode setState}) get it; an OrderedDict's attributes (a state dict's `_metadata`) are
 * ignored. Anything else (bytes, a set, a storage or tensor the hooks made) is refused: copying
 * attributes onto it would let the pickle overwrite what the hooks already validated.
 */
function build(target: unknown, state: unknown, fail: (message: string) => never): void {
  if (target !== null && typeof target === "object" && setState in target) {
    (target as Buildable)[setState](state);
  } else if (!(target instanceof Map)) {
    fail(`BUILD cannot set the state of ${describe(target)}`);
  }
}

/**
 * Decodes a little-endian two's-complement integer (LONG1/LONG4) in one step through a hex
 * string (shifting a BigInt byte by byte takes quadratic time).
 */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let hex = "";
  for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i].toString(16).padStart(2, "0");
  let value = BigInt("0x" + hex);
  if (bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(8 * bytes.length);
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  return value <= safe && value >= -safe ? Number(value) : value;
}

/** A short description of a value for error messages. */
function describe(value: unknown): string {
  if (value === null) return "None";
  if (Array.isArray(value)) return Object.isFrozen(value) ? "a tuple" : "a list";
  if (value instanceof Map) return "a dict";
  if (value instanceof Set) return "a set";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "function") return `the global ${value.name || "function"}`;
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
