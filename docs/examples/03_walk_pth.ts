/**
 * Chapter 3's worked example: opens a `.pth` file the way the loader does and shows each layer
 * of it: the zip records, then the pickle in `data.pkl` opcode by opcode with the stack it
 * builds, then the tensors `readPth` makes of it.
 *
 * Without an argument it reads `tests/fixtures/pth/tiny_untied/consolidated.00.pth`, a small
 * Llama-shaped state dict written by real PyTorch (`torch.save`, see
 * `tools/make_pth_fixtures.py`). Give it any `.pth`, e.g. the demo model's:
 *
 * ```sh
 * deno run --allow-read --allow-env --allow-ffi docs/examples/03_walk_pth.ts
 * deno run --allow-read --allow-env --allow-ffi docs/examples/03_walk_pth.ts \
 *   ~/.cache/llama-bolts/demo-tiny/consolidated.00.pth 60
 * ```
 *
 * The second argument is how many opcodes to print (default 40: the first tensor); the rest are counted.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import * as op from "../../lib/formats/pickle_opcodes.ts";
import { readPth } from "../../lib/formats/pth.ts";
import { readZipDirectory, storedEntryBytes, storedEntryOffset } from "../../lib/formats/zip.ts";

const path = Deno.args[0] ??
  fileURLToPath(
    new URL("../../tests/fixtures/pth/tiny_untied/consolidated.00.pth", import.meta.url),
  );
const shown = Number(Deno.args[1] ?? 40);
const bytes = Deno.readFileSync(path);
const view = new DataView(bytes.buffer);

// 1. The zip records, from the end of the file backwards, as readZipDirectory reads them.
const hex = (n: number) => "0x" + n.toString(16);
console.log(`${path}: ${bytes.length.toLocaleString("en")} bytes\n`);
console.log("zip records (read from the end):");
for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 65557); at--) {
  if (view.getUint32(at, true) !== 0x06054b50) continue;
  console.log(
    `  end of central directory at ${at}: ${view.getUint16(at + 10, true)} entries, ` +
      `directory ${view.getUint32(at + 12, true)} bytes at ${hex(view.getUint32(at + 16, true))}`,
  );
  const locator = at - 20;
  if (locator >= 0 && view.getUint32(locator, true) === 0x07064b50) {
    const record = Number(view.getBigUint64(locator + 8, true));
    console.log(
      `  ZIP64 locator at ${locator} -> ZIP64 end record at ${record}: ` +
        `${view.getBigUint64(record + 32, true)} entries, directory at ` +
        `${view.getBigUint64(record + 48, true)}`,
    );
  }
  break;
}
const entries = readZipDirectory(bytes, path);
console.log(`  central directory: ${entries.length} entries; the first ones:`);
for (const entry of entries.slice(0, 5)) {
  const data = storedEntryOffset(bytes, entry, path);
  console.log(
    `    ${entry.name.padEnd(28)} method ${entry.method}  ${String(entry.size).padStart(6)} bytes` +
      `  local header at ${String(entry.localHeaderOffset).padStart(6)}, data at ` +
      `${String(data).padStart(6)} (${data % 64 === 0 ? "64-byte aligned" : "not aligned"})`,
  );
}

// 2. The pickle, one opcode at a time, with a symbolic stack (what loadPickle builds for real).
const pkl = entries.find((e) => e.name.endsWith("/data.pkl"))!;
const pickle = storedEntryBytes(bytes, pkl, path);
const names = new Map<number, string>(
  Object.entries(op).map(([name, code]) => [code as number, name]),
);
console.log(`\n${pkl.name}: ${pickle.length} bytes of pickle`);
console.log(
  "  byte  opcode            argument                        stack afterwards (top last)",
);

const pv = new DataView(pickle.buffer, pickle.byteOffset, pickle.byteLength);
let pos = 0;
let stack: string[] = [];
const marks: string[][] = [];
const memo = new Map<number, string>();
const counts = new Map<string, number>();
const decoder = new TextDecoder();
const short = (text: string, n = 40) => (text.length > n ? text.slice(0, n - 1) + "…" : text);
const popMark = () => {
  const items = stack;
  stack = marks.pop()!;
  return items;
};
let count = 0;
while (pos < pickle.length) {
  const start = pos;
  const code = pickle[pos++];
  const name = names.get(code) ?? `0x${code.toString(16)}`;
  let arg = "";
  const u8 = () => pickle[pos++];
  const u32 = () => (pos += 4, pv.getUint32(pos - 4, true));
  const text = (n: number) => (pos += n, decoder.decode(pickle.slice(pos - n, pos)));
  switch (code) {
    case op.PROTO:
      arg = `protocol ${u8()}`;
      break;
    case op.FRAME:
      arg = `${pv.getBigUint64(pos, true)} bytes`;
      pos += 8;
      break;
    case op.GLOBAL: {
      const end1 = pickle.indexOf(0x0a, pos);
      const module = text(end1 - pos);
      pos++;
      const end2 = pickle.indexOf(0x0a, pos);
      const cls = text(end2 - pos);
      pos++;
      arg = `${module} ${cls}`;
      stack.push(`${module}.${cls}`);
      break;
    }
    case op.BINUNICODE:
    case op.SHORT_BINUNICODE: {
      const s = text(code === op.BINUNICODE ? u32() : u8());
      arg = JSON.stringify(s);
      stack.push(JSON.stringify(s));
      break;
    }
    case op.BININT1:
    case op.BININT2:
    case op.BININT: {
      const n = code === op.BININT1
        ? u8()
        : code === op.BININT2
        ? (pos += 2, pv.getUint16(pos - 2, true))
        : (pos += 4, pv.getInt32(pos - 4, true));
      arg = String(n);
      stack.push(String(n));
      break;
    }
    case op.LONG1: {
      const n = u8();
      let value = 0n;
      for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(pickle[pos + i]);
      pos += n;
      arg = String(value);
      stack.push(String(value));
      break;
    }
    case op.BINPUT:
    case op.LONG_BINPUT: {
      const index = code === op.BINPUT ? u8() : u32();
      arg = `memo[${index}]`;
      memo.set(index, stack[stack.length - 1]);
      break;
    }
    case op.BINGET:
    case op.LONG_BINGET: {
      const index = code === op.BINGET ? u8() : u32();
      arg = `memo[${index}]`;
      stack.push(memo.get(index)!);
      break;
    }
    case op.MEMOIZE:
      memo.set(memo.size, stack[stack.length - 1]);
      break;
    case op.MARK:
      marks.push(stack);
      stack = [];
      break;
    case op.EMPTY_DICT:
      stack.push("{}");
      break;
    case op.EMPTY_TUPLE:
      stack.push("()");
      break;
    case op.NONE:
      stack.push("None");
      break;
    case op.NEWTRUE:
    case op.NEWFALSE:
      stack.push(code === op.NEWTRUE ? "True" : "False");
      break;
    case op.TUPLE: {
      const items = popMark(); // before stack.push: popMark replaces `stack`
      stack.push(`(${items.join(", ")})`);
      break;
    }
    case op.TUPLE1:
    case op.TUPLE2:
    case op.TUPLE3: {
      const n = code - op.TUPLE1 + 1;
      stack.push(`(${stack.splice(stack.length - n, n).join(", ")}${n === 1 ? "," : ""})`);
      break;
    }
    case op.BINPERSID:
      stack.push(`storage${short(stack.pop()!, 30)}`);
      break;
    case op.REDUCE: {
      const args = stack.pop()!;
      const fn = stack.pop()!.split(".").pop();
      stack.push(`${fn}${args}`);
      break;
    }
    case op.SETITEM: {
      const value = stack.pop(), key = stack.pop();
      stack[stack.length - 1] = `{…, ${key}: ${short(value!, 20)}}`;
      break;
    }
    case op.SETITEMS: {
      const items = popMark();
      stack[stack.length - 1] = `{… +${items.length / 2} items}`;
      break;
    }
    case op.BUILD:
      stack.pop();
      break;
    case op.STOP:
      break;
    default:
      throw new Error(`${name} at pickle byte ${start}: not expected in a torch.save pickle`);
  }
  counts.set(name, (counts.get(name) ?? 0) + 1);
  if (count++ < shown) {
    const whole = [...marks.flatMap((saved) => [...saved, "MARK"]), ...stack];
    const top = whole.slice(-2).map((s) => short(s, 26)).join(" | ");
    console.log(
      `  ${String(start).padStart(4)}  ${name.padEnd(16)}  ${short(arg, 30).padEnd(30)}  ` +
        `${whole.length > 2 ? "… | " : ""}${top}`,
    );
  }
  if (code === op.STOP) break;
}
console.log(`  … ${count} opcodes in all:`);
const histogram = [...counts].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`);
console.log(`    ${histogram.join(", ")}`);

// 3. What readPth makes of it: views into the file, no copies.
const tensors = [...readPth(bytes, path).values()];
console.log(`\nreadPth: ${tensors.length} tensors; the first ones:`);
for (const t of tensors.slice(0, 4)) {
  console.log(
    `  ${t.name.padEnd(30)} ${t.dtype}  [${t.shape.join(", ")}]`.padEnd(56) +
      `file bytes ${t.byteOffset}..${t.byteOffset + t.data.byteLength}`,
  );
}
