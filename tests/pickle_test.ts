/**
 * The pickle machine against Python's `pickle`: `tools/make_pth_fixtures.py` pickled one value
 * with protocols 2 to 5 and recorded it as tagged JSON; unpickling each file must give that
 * value back. Errors are checked on hand-made byte strings.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CheckpointError } from "../lib/errors.ts";
import { loadPickle, type PickleHooks, setState } from "../lib/formats/pickle.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/pth/", import.meta.url));
const expected = JSON.parse(Deno.readTextFileSync(join(FIXTURES, "expected.json"))).pickles;

const POINT = Symbol("Point");

/** The classes the fixture pickles name, as Python would rebuild them. */
const hooks: PickleHooks = {
  findClass(module, name) {
    const key = `${module}.${name}`;
    switch (key) {
      case "collections.OrderedDict":
        return () => new Map();
      case "builtins.set":
      case "__builtin__.set":
        return (items) => new Set(items as unknown[]);
      case "builtins.frozenset":
      case "__builtin__.frozenset":
        return (items) => new Set(items as unknown[]);
      case "__builtin__.bytes": // protocol 2 pickles b"" as bytes()
      case "builtins.bytes":
        return () => new Uint8Array();
      case "_codecs.encode": // protocol 2 pickles bytes as _codecs.encode(latin-1 text)
        return (text) => Uint8Array.from(text as string, (c) => c.charCodeAt(0));
      case "__main__.Point":
        // Python's default __setstate__: the state dict becomes the attributes.
        return () => ({
          [POINT]: true,
          [setState](state: unknown) {
            for (const [key, value] of state as Map<string, unknown>) {
              (this as Record<string, unknown>)[key] = value;
            }
          },
        });
      case "copyreg._reconstructor":
        return (cls) => (cls as () => unknown)();
      default:
        throw new Error(`unexpected global ${key}`);
    }
  },
};

/** The same tagged JSON form as `tagged()` in the Python script. */
function tagged(v: unknown): unknown {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "bigint") return { $int: v.toString() };
  if (typeof v === "number") {
    if (Number.isNaN(v)) return { $float: "nan" };
    if (v === Infinity) return { $float: "inf" };
    if (v === -Infinity) return { $float: "-inf" };
    if (Object.is(v, -0)) return { $float: "-0" };
    return v;
  }
  if (v instanceof Uint8Array) {
    return { $bytes: [...v].map((b) => b.toString(16).padStart(2, "0")).join("") };
  }
  if (Array.isArray(v)) return Object.isFrozen(v) ? { $tuple: v.map(tagged) } : v.map(tagged);
  if (v instanceof Set) {
    const items = [...v].map(tagged);
    return { $set: items.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) };
  }
  if (v instanceof Map) return { $dict: [...v].map(([k, x]) => [tagged(k), tagged(x)]) };
  if (typeof v === "object" && POINT in v) {
    return {
      $object: "Point",
      state: { $dict: Object.entries(v).map(([k, x]) => [k, tagged(x)]) },
    };
  }
  throw new Error(`cannot tag ${String(v)}`);
}

for (const [file, protocol] of Object.entries(expected.files as Record<string, number>)) {
  Deno.test(`pickle: protocol ${protocol} gives Python's value`, () => {
    const bytes = Deno.readFileSync(join(FIXTURES, "pickles", file));
    const value = loadPickle(bytes, hooks, file) as Map<string, unknown>;
    assert.deepEqual(tagged(value), expected.value);
    // The memo restores shared references, as Python does.
    const memo = value.get("memo") as unknown[];
    assert.equal(memo[0], memo[1]);
    assert.equal(value.get("strings_many"), value.get("strings_many_again"));
  });
}

const SOURCE = "model.pth (entry model/data.pkl)";

function assertPickleError(bytes: number[] | Uint8Array, pattern: RegExp, withHooks = hooks) {
  assert.throws(
    () => loadPickle(Uint8Array.from(bytes), withHooks, SOURCE),
    (e: unknown) => e instanceof CheckpointError && pattern.test(e.message) && e.path === SOURCE,
  );
}

Deno.test("pickle: an unknown opcode is named with its byte position", () => {
  // PROTO 2, then 'I' (protocol 0 INT, which torch.save never writes).
  assertPickleError(
    [0x80, 0x02, 0x49, 0x31, 0x0a, 0x2e],
    /unknown pickle opcode 0x49 \('I'\).*byte 2/,
  );
  assertPickleError([0x80, 0x02, 0xff], /unknown pickle opcode 0xff/);
});

Deno.test("pickle: truncated pickles are refused", () => {
  const bytes = Deno.readFileSync(join(FIXTURES, "pickles", "protocol2.pkl"));
  assertPickleError(bytes.slice(0, bytes.length - 1), /without a STOP/);
  assertPickleError(bytes.slice(0, 40), /ends (inside|without)/);
  assertPickleError([0x80, 0x02, 0x58, 0x10, 0x00, 0x00, 0x00, 0x61], /ends inside/); // BINUNICODE
  assertPickleError([0x80, 0x02, 0x63, 0x61, 0x0a, 0x62], /ends inside a GLOBAL/);
});

Deno.test("pickle: malformed streams are refused", () => {
  assertPickleError([0x80, 0x02, 0x2e], /empty stack/); // STOP with nothing to return
  assertPickleError([0x80, 0x02, 0x74, 0x2e], /MARK that was never pushed/); // TUPLE
  assertPickleError([0x80, 0x02, 0x68, 0x05, 0x2e], /memo entry 5/); // BINGET 5
  assertPickleError([0x80, 0x09], /unsupported pickle protocol 9/);
  // EMPTY_LIST, NONE, SETITEM-less: SETITEM on a list.
  assertPickleError([0x80, 0x02, 0x5d, 0x4e, 0x4e, 0x73, 0x2e], /SETITEM\(S\) expects a dict/);
  // BINPERSID without a persistentLoad hook.
  assertPickleError([0x80, 0x02, 0x4e, 0x51, 0x2e], /persistent id/);
});

Deno.test("pickle: the caller decides which globals exist", () => {
  const bytes = Uint8Array.from("\x80\x02cos\nsystem\n)R.", (c) => c.charCodeAt(0));
  assert.throws(
    () =>
      loadPickle(bytes, {
        findClass(module, name) {
          throw new CheckpointError(`unsupported class ${module}.${name}`, { path: SOURCE });
        },
      }, SOURCE),
    (e: unknown) => e instanceof CheckpointError && /unsupported class os\.system/.test(e.message),
  );
});

Deno.test("pickle: LONG1 decodes two's complement like Python", () => {
  // The bytes are Python's pickle.encode_long(n) for each n.
  const cases: Array<[number[], number | bigint]> = [
    [[], 0],
    [[0xff], -1],
    [[0x00, 0x80, 0x00], 32768],
    [[0x00, 0x80], -32768],
    [[0x00, 0x00, 0x00, 0x80, 0x00], 2147483648],
    [[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01], 2n ** 64n],
    [[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80], -(2n ** 63n)],
  ];
  for (const [bytes, value] of cases) {
    const pickle = [0x80, 0x02, 0x8a, bytes.length, ...bytes, 0x2e];
    assert.equal(loadPickle(Uint8Array.from(pickle), hooks, SOURCE), value);
  }
});
