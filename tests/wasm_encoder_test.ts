/**
 * The WebAssembly encoder (`lib/wasm/`) against independent references: LEB128 against the
 * examples of the DWARF specification and a bit-by-bit decoder written here, modules against
 * V8's own validator and execution, and the text format against hand-written expectations.
 *
 * @module
 */

import assert from "node:assert/strict";
import { signedLeb128, unsignedLeb128 } from "../lib/wasm/leb128.ts";
import { ModuleBuilder } from "../lib/wasm/module.ts";
import { f32, f32x4, f64, i32, i64, v128 } from "../lib/wasm/ops.ts";
import { moduleText } from "../lib/wasm/text.ts";

/** An independent decoder: 7 bits per byte, low first; signed when the last byte says so. */
function decode(bytes: number[], signed: boolean): bigint {
  let value = 0n, shift = 0n;
  for (const [i, byte] of bytes.entries()) {
    value |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    const last = (byte & 0x80) === 0;
    assert.equal(last, i === bytes.length - 1, "only the last byte lacks the continuation bit");
    if (last && signed && (byte & 0x40) !== 0) value -= 1n << shift;
  }
  return value;
}

Deno.test("LEB128: the DWARF examples and round trips through an independent decoder", () => {
  assert.deepEqual(unsignedLeb128(2), [2]);
  assert.deepEqual(unsignedLeb128(127), [127]);
  assert.deepEqual(unsignedLeb128(128), [0x80, 1]);
  assert.deepEqual(unsignedLeb128(129), [0x81, 1]);
  assert.deepEqual(unsignedLeb128(12857), [0xb9, 100]);
  assert.deepEqual(unsignedLeb128(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(signedLeb128(-2), [0x7e]);
  assert.deepEqual(signedLeb128(-127), [0x81, 0x7f]);
  assert.deepEqual(signedLeb128(-128), [0x80, 0x7f]);
  assert.deepEqual(signedLeb128(63), [0x3f]);
  assert.deepEqual(signedLeb128(64), [0xc0, 0]);
  assert.deepEqual(signedLeb128(-123456), [0xc0, 0xbb, 0x78]);
  const values = [0n, 1n, 63n, 64n, 2n ** 31n - 1n, 2n ** 32n, 2n ** 63n - 1n, 2n ** 64n - 1n];
  for (const v of values) assert.equal(decode(unsignedLeb128(v), false), v);
  for (const v of [...values.slice(0, 7), -1n, -64n, -65n, -(2n ** 31n), -(2n ** 63n)]) {
    assert.equal(decode(signedLeb128(v), true), v);
  }
  assert.throws(() => unsignedLeb128(-1), RangeError);
});

Deno.test("a module with every value type and a loop validates and computes", () => {
  const m = new ModuleBuilder();
  const mem = m.importMemory("memory", { address: "i64", shared: true, minimum: 1, maximum: 4 });
  // sum(p, n) = Σ f32 at p + 4i, i < n; checks loads, locals, forRange and the result.
  m.func("sum", { p: "i64", n: "i32" }, "f32", (f, { p, n }) => {
    const i = f.local("i", "i32"), s = f.local("s", "f32");
    f.forRange(i, i32.const(0), n, 1, () => {
      const at = i64.add(p, i64.extendI32U(i32.shl(i, i32.const(2))));
      f.set(s, f32.add(s, f32.load(mem, at)));
    });
    f.return(s);
  });
  // lanes(x) = the four lanes of splat(x) · (1, 2, 3, 4) summed: 10x.
  m.func("lanes", { x: "f32" }, "f64", (f, { x }) => {
    const v = f.local("v", "v128");
    f.set(
      v,
      f32x4.mul(
        f32x4.splat(x),
        v128.const([0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64]),
      ),
    );
    let total = f64.promoteF32(f32x4.extractLane(v, 0));
    for (const lane of [1, 2, 3]) {
      total = f64.add(total, f64.promoteF32(f32x4.extractLane(v, lane)));
    }
    f.return(total);
  });
  const bytes = m.encode();
  assert.ok(WebAssembly.validate(bytes));
  const memory = new WebAssembly.Memory({
    initial: 1n,
    maximum: 4n,
    shared: true,
    address: "i64",
  } as unknown as WebAssembly.MemoryDescriptor);
  new Float32Array(memory.buffer).set([1, 2, 3, 4.5], 16);
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } })
    .exports as { sum: (p: bigint, n: number) => number; lanes: (x: number) => number };
  assert.equal(exports.sum(64n, 4), 10.5);
  assert.equal(exports.sum(64n, 0), 0);
  assert.equal(exports.lanes(1.5), 15);
});

Deno.test("operand types are checked while a kernel is written, naming the instruction", () => {
  const m = new ModuleBuilder();
  const mem = m.importMemory("memory", { address: "i64", minimum: 1 });
  assert.throws(
    () => m.func("bad", { a: "i32" }, null, (_f, { a }) => void f32x4.add(a, a)),
    /f32x4.add: operand 1 must be v128, found i32/,
  );
  assert.throws(
    () => m.func("bad2", { a: "i32" }, null, (_f, { a }) => void v128.load(mem, a)),
    /v128.load: operand 1 must be i64, found i32/,
  );
  assert.throws(
    () => m.func("bad3", {}, null, (f) => f.br("nowhere")),
    /no enclosing block or loop named \$nowhere/,
  );
});

Deno.test("the text format names locals, labels and memories", () => {
  const m = new ModuleBuilder();
  const mem = m.importMemory("state", { address: "i64", shared: true, minimum: 1, maximum: 2 });
  m.func("store1", { p: "i64" }, null, (f, { p }) => {
    f.emit(f32.store(mem, p, f32.const(1), 8));
  }, "Stores 1.0 at p + 8.");
  assert.equal(
    moduleText(m),
    `(module
  (import "env" "state" (memory $state i64 1 2 shared))
  ;; Stores 1.0 at p + 8.
  (func $store1 (export "store1") (param $p i64)
    local.get $p
    f32.const 1
    f32.store $state offset=8
  )
)
`,
  );
});
