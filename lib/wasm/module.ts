/**
 * Building a WebAssembly module in TypeScript and encoding it to bytes: the small encoder behind
 * our kernels, so that no compiler, toolchain or committed `.wasm` file is needed.
 *
 * A {@linkcode ModuleBuilder} collects imported memories and functions; each function is written
 * with a {@linkcode FunctionBuilder}: named locals, statements, structured loops. Values are
 * {@linkcode Expr}essions built with the helpers of `ops.ts` (`f32x4.mul(a, b)`), which check
 * operand types as the kernel is written. {@linkcode ModuleBuilder.encode} writes the binary
 * format (sections: type, import, function, export, code); `text.ts` prints the same module
 * in the text format for readers.
 *
 * @example
 * ```ts
 * import { ModuleBuilder } from "./module.ts";
 * import { f32, i32 } from "./ops.ts";
 *
 * const m = new ModuleBuilder();
 * const mem = m.importMemory("memory", { address: "i32", minimum: 1, maximum: 1 });
 * m.func("sum", { p: "i32", n: "i32" }, "f32", (f, { p, n }) => {
 *   const i = f.local("i", "i32"), s = f.local("s", "f32");
 *   f.forRange(i, i32.const(0), n, 1, () => {
 *     f.set(s, f32.add(s, f32.load(mem, i32.add(p, i32.shl(i, i32.const(2))))));
 *   });
 *   f.return(s);
 * });
 * const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
 * const { exports } = new WebAssembly.Instance(new WebAssembly.Module(m.encode()), {
 *   env: { memory },
 * });
 * ```
 *
 * @module
 */

import { type InstructionName, INSTRUCTIONS, type ValType, VALTYPE_CODE } from "./instructions.ts";
import { signedLeb128, unsignedLeb128 } from "./leb128.ts";

/** A value a kernel computes: emits the instructions that leave it on the stack. */
export interface Expr {
  /** What it leaves on the stack; `null` for a statement that leaves nothing. */
  readonly type: ValType | null;
  /** Appends its instructions. */
  emit(code: Instr[]): void;
}

/** An imported linear memory. */
export interface Memory {
  /** Index among the module's memories (the memarg's memory index). */
  readonly index: number;
  /** Import name, under module `env`. */
  readonly name: string;
  /** `i64` for a 64-bit memory (memory64): addresses and offsets are i64. */
  readonly address: "i32" | "i64";
  readonly shared: boolean;
  /** Pages of 64 KiB the imported memory must have at least. */
  readonly minimum: number;
  /** Pages it may grow to (required for shared memories). */
  readonly maximum?: number;
}

/** A function parameter or local variable; as an expression it reads the variable. */
export class Local implements Expr {
  constructor(
    /** Index in the function's locals (parameters first). */
    readonly index: number,
    /** Name in the text format. */
    readonly name: string,
    readonly type: ValType,
  ) {}

  emit(code: Instr[]): void {
    code.push({ name: "local.get", local: this });
  }
}

/** A function of the module, as a `call` target. */
export interface FunctionRef {
  readonly index: number;
  readonly name: string;
  readonly params: readonly ValType[];
  readonly result: ValType | null;
}

/** A memory access's alignment hint, memory and constant offset. */
export interface MemArg {
  readonly memory: Memory;
  /** log2 of the alignment hint. */
  readonly align: number;
  readonly offset: number;
}

/** One instruction with its immediate. */
export interface Instr {
  readonly name: InstructionName;
  readonly local?: Local;
  /** Branch target: the label's name (text) and its depth (binary). */
  readonly label?: { readonly name: string; readonly depth: number };
  /** Name of the label a block or loop opens. */
  readonly opens?: string;
  readonly memarg?: MemArg;
  readonly value?: number | bigint;
  readonly bytes?: readonly number[];
  readonly lane?: number;
  readonly func?: FunctionRef;
}

/** A finished function: what the encoder and the text printer read. */
export interface FunctionDef extends FunctionRef {
  readonly locals: readonly Local[];
  readonly code: readonly Instr[];
  /** The kernel's comment, printed above it in the text format. */
  readonly doc?: string;
}

/** Writes one function: its locals, then statements in order. */
export class FunctionBuilder {
  readonly locals: Local[] = [];
  readonly code: Instr[] = [];
  readonly #labels: string[] = [];
  readonly #result: ValType | null;

  constructor(params: Readonly<Record<string, ValType>>, result: ValType | null) {
    for (const [name, type] of Object.entries(params)) {
      this.locals.push(new Local(this.locals.length, name, type));
    }
    this.#result = result;
  }

  /**
   * Declares a local variable (zero-initialized, as WebAssembly guarantees).
   *
   * @param name Its name in the text format (unique in the function).
   * @param type Its value type.
   * @returns The variable.
   */
  local(name: string, type: ValType): Local {
    if (this.locals.some((l) => l.name === name)) {
      throw new Error(`local $${name} is declared twice`);
    }
    const local = new Local(this.locals.length, name, type);
    this.locals.push(local);
    return local;
  }

  /**
   * A temporary local for helpers that need one: the local of that name, declared on first
   * use.
   *
   * @param name Its name (shared by every use in the function).
   * @param type Its value type.
   * @returns The variable.
   */
  temp(name: string, type: ValType): Local {
    const found = this.locals.find((l) => l.name === name);
    if (found === undefined) return this.local(name, type);
    if (found.type !== type) throw new Error(`local $${name} is ${found.type}, not ${type}`);
    return found;
  }

  /**
   * A constant computed once, at the start of the function, into a local that every use reads:
   * for constants inside loops. V8 materializes each `v128.const` anew where it is used
   * (several instructions for most bit patterns) and does not move it out of a loop; measured
   * 10–20% on the block kernels. The same name returns the same local.
   *
   * @param name The local's name.
   * @param value An expression that reads no local and no memory: a constant.
   * @returns The local.
   */
  hoist(name: string, value: Expr): Local {
    const found = this.locals.find((l) => l.name === name);
    if (found !== undefined) return found;
    if (value.type === null) throw new Error(`hoist $${name}: expected a value, found a statement`);
    const local = this.local(name, value.type);
    const prologue: Instr[] = [];
    value.emit(prologue);
    prologue.push({ name: "local.set", local });
    this.code.unshift(...prologue);
    return local;
  }

  /** `local = value`. */
  set(local: Local, value: Expr): void {
    expectType(value, local.type, `local.set $${local.name}`);
    value.emit(this.code);
    this.code.push({ name: "local.set", local });
  }

  /** Runs a statement (a store, a call without result). */
  emit(statement: Expr): void {
    if (statement.type !== null) {
      throw new Error(`expected a statement, found a ${statement.type} value (use set or drop)`);
    }
    statement.emit(this.code);
  }

  /** `block $label … end`: `br(label)` inside jumps past the end. */
  block(label: string, body: () => void): void {
    this.#nested("block", label, body);
  }

  /** `loop $label … end`: `br(label)` inside jumps back to the start. */
  loop(label: string, body: () => void): void {
    this.#nested("loop", label, body);
  }

  /** `if (condition) { then } else { otherwise }`. */
  if(condition: Expr, then: () => void, otherwise?: () => void): void {
    expectType(condition, "i32", "if");
    condition.emit(this.code);
    this.code.push({ name: "if", opens: "" });
    this.#labels.push("");
    then();
    if (otherwise !== undefined) {
      this.code.push({ name: "else" });
      otherwise();
    }
    this.#labels.pop();
    this.code.push({ name: "end" });
  }

  /** Branches to an enclosing block's end or loop's start. */
  br(label: string): void {
    this.code.push({ name: "br", label: this.#target(label) });
  }

  /** Branches when `condition` is non-zero. */
  brIf(label: string, condition: Expr): void {
    expectType(condition, "i32", "br_if");
    condition.emit(this.code);
    this.code.push({ name: "br_if", label: this.#target(label) });
  }

  /** Returns from the function (with its result, if it has one). */
  return(value?: Expr): void {
    if (this.#result !== null) {
      if (value === undefined) throw new Error(`expected a ${this.#result} result to return`);
      expectType(value, this.#result, "return");
      value.emit(this.code);
    }
    this.code.push({ name: "return" });
  }

  /**
   * `for (i = start; i < end; i += step) body()`, with signed i32 comparisons. The test sits at
   * the bottom (one branch per iteration), guarded once before the first.
   *
   * @param i The counter (an i32 local).
   * @param start First value.
   * @param end Loop while `i < end`.
   * @param step Added after each iteration (> 0): a constant, or an expression evaluated after
   *   the body (a variable the body sets).
   * @param body Statements of one iteration.
   */
  forRange(i: Local, start: Expr, end: Expr, step: number | Expr, body: () => void): void {
    expectType(i, "i32", "forRange");
    this.set(i, start);
    const label = `${i.name}_loop`;
    this.if(lessThan(i, end), () => {
      this.loop(label, () => {
        body();
        this.set(i, binary("i32.add", i, typeof step === "number" ? constI32(step) : step));
        this.brIf(label, lessThan(i, end));
      });
    });
  }

  #nested(name: "block" | "loop", label: string, body: () => void): void {
    this.code.push({ name, opens: label });
    this.#labels.push(label);
    body();
    this.#labels.pop();
    this.code.push({ name: "end" });
  }

  #target(label: string): { name: string; depth: number } {
    const at = this.#labels.lastIndexOf(label);
    if (at < 0) throw new Error(`no enclosing block or loop named $${label}`);
    return { name: label, depth: this.#labels.length - 1 - at };
  }
}

function expectType(value: Expr, type: ValType, where: string): void {
  if (value.type !== type) {
    throw new Error(`${where}: expected a ${type} operand, found ${value.type ?? "no value"}`);
  }
}

function lessThan(a: Expr, b: Expr): Expr {
  return binary("i32.lt_s", a, b);
}

function constI32(value: number): Expr {
  return { type: "i32", emit: (code) => code.push({ name: "i32.const", value }) };
}

function binary(name: "i32.add" | "i32.lt_s", a: Expr, b: Expr): Expr {
  return {
    type: "i32",
    emit(code) {
      a.emit(code);
      b.emit(code);
      code.push({ name });
    },
  };
}

/** Collects memories and functions, then encodes the module. */
export class ModuleBuilder {
  readonly memories: Memory[] = [];
  readonly functions: FunctionDef[] = [];

  /**
   * Imports a memory as `env.<name>`. Memories are numbered in import order; a module with
   * more than one uses multi-memory.
   *
   * @param name Import name.
   * @param limits Address type, sharing and page limits.
   * @returns The memory, to name in loads and stores.
   */
  importMemory(
    name: string,
    limits: { address: "i32" | "i64"; shared?: boolean; minimum: number; maximum?: number },
  ): Memory {
    if (this.functions.length > 0) throw new Error("import memories before adding functions");
    const memory: Memory = {
      index: this.memories.length,
      name,
      address: limits.address,
      shared: limits.shared ?? false,
      minimum: limits.minimum,
      maximum: limits.maximum,
    };
    if (memory.shared && memory.maximum === undefined) {
      throw new Error(`shared memory ${name} needs a maximum`);
    }
    this.memories.push(memory);
    return memory;
  }

  /**
   * Adds an exported function.
   *
   * @param name Export name (and text-format name).
   * @param params Parameters in order, by name.
   * @param result Result type, or `null`.
   * @param build Writes the body; receives the parameters as locals.
   * @param doc The kernel's comment for the text format.
   * @returns The function, as a call target.
   */
  func<P extends Record<string, ValType>>(
    name: string,
    params: P,
    result: ValType | null,
    build: (f: FunctionBuilder, params: { readonly [K in keyof P]: Local }) => void,
    doc?: string,
  ): FunctionRef {
    if (this.functions.some((f) => f.name === name)) throw new Error(`function ${name} twice`);
    const f = new FunctionBuilder(params, result);
    const byName = Object.fromEntries(f.locals.map((l) => [l.name, l]));
    build(f, byName as { [K in keyof P]: Local });
    const def: FunctionDef = {
      index: this.functions.length,
      name,
      params: Object.values(params),
      result,
      locals: f.locals,
      code: f.code,
      doc,
    };
    this.functions.push(def);
    return def;
  }

  /** The module in the binary format. */
  encode(): Uint8Array<ArrayBuffer> {
    const types: string[] = [];
    const typeIndex = (f: FunctionDef) => {
      const key = `${f.params.join(",")}>${f.result ?? ""}`;
      let at = types.indexOf(key);
      if (at < 0) at = types.push(key) - 1;
      return at;
    };
    const functionTypes = this.functions.map(typeIndex);

    const typeSection = vector(types.map((key) => {
      const [params, result] = key.split(">");
      const list = params === "" ? [] : params.split(",") as ValType[];
      return [
        0x60,
        ...vectorBytes(list.map((t) => [VALTYPE_CODE[t]])),
        ...vectorBytes(result === "" ? [] : [[VALTYPE_CODE[result as ValType]]]),
      ];
    }));
    const importSection = vector(this.memories.map((m) => [
      ...name("env"),
      ...name(m.name),
      0x02, // memory
      ...limits(m),
    ]));
    const functionSection = vector(functionTypes.map((t) => unsignedLeb128(t)));
    const exportSection = vector(this.functions.map((f) => [
      ...name(f.name),
      0x00, // function
      ...unsignedLeb128(f.index),
    ]));
    const codeSection = vector(this.functions.map((f) => {
      const body = functionBody(f);
      return [...unsignedLeb128(body.length), ...body];
    }));

    return new Uint8Array([
      0x00,
      0x61,
      0x73,
      0x6d, // "\0asm"
      0x01,
      0x00,
      0x00,
      0x00, // version 1
      ...section(1, typeSection),
      ...section(2, importSection),
      ...section(3, functionSection),
      ...section(7, exportSection),
      ...section(10, codeSection),
    ]);
  }
}

function section(id: number, contents: number[]): number[] {
  return [id, ...unsignedLeb128(contents.length), ...contents];
}

function vector(items: number[][]): number[] {
  return vectorBytes(items);
}

function vectorBytes(items: number[][]): number[] {
  return [...unsignedLeb128(items.length), ...items.flat()];
}

function name(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [...unsignedLeb128(bytes.length), ...bytes];
}

function limits(m: Memory): number[] {
  // Flags: bit 0 has maximum, bit 1 shared, bit 2 64-bit addresses.
  const flags = (m.maximum !== undefined ? 1 : 0) | (m.shared ? 2 : 0) |
    (m.address === "i64" ? 4 : 0);
  const bytes = [flags, ...unsignedLeb128(m.minimum)];
  if (m.maximum !== undefined) bytes.push(...unsignedLeb128(m.maximum));
  return bytes;
}

function functionBody(f: FunctionDef): number[] {
  // Locals after the parameters, as runs of one type.
  const runs: Array<[number, ValType]> = [];
  for (const local of f.locals.slice(f.params.length)) {
    const last = runs.at(-1);
    if (last !== undefined && last[1] === local.type) last[0]++;
    else runs.push([1, local.type]);
  }
  const bytes = vectorBytes(runs.map(([n, t]) => [...unsignedLeb128(n), VALTYPE_CODE[t]]));
  for (const instr of f.code) bytes.push(...encodeInstr(instr));
  bytes.push(INSTRUCTIONS.end.code);
  return bytes;
}

function encodeInstr(instr: Instr): number[] {
  const info = INSTRUCTIONS[instr.name];
  const bytes = info.prefix === null ? [info.code] : [info.prefix, ...unsignedLeb128(info.code)];
  switch (info.immediate) {
    case "none":
      break;
    case "block":
      bytes.push(0x40); // no results
      break;
    case "local":
      bytes.push(...unsignedLeb128(instr.local!.index));
      break;
    case "label":
      bytes.push(...unsignedLeb128(instr.label!.depth));
      break;
    case "func":
      bytes.push(...unsignedLeb128(instr.func!.index));
      break;
    case "memarg":
    case "memarg_lane": {
      const { memory, align, offset } = instr.memarg!;
      // Bit 6 of the alignment field says a memory index follows (multi-memory).
      if (memory.index === 0) bytes.push(...unsignedLeb128(align));
      else bytes.push(...unsignedLeb128(align | 0x40), ...unsignedLeb128(memory.index));
      bytes.push(...unsignedLeb128(offset));
      if (info.immediate === "memarg_lane") bytes.push(instr.lane!);
      break;
    }
    case "lane":
      bytes.push(instr.lane!);
      break;
    case "bytes16":
      bytes.push(...instr.bytes!);
      break;
    case "i32":
    case "i64":
      bytes.push(...signedLeb128(instr.value!));
      break;
    case "f32": {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, Number(instr.value), true);
      bytes.push(...b);
      break;
    }
    case "f64": {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, Number(instr.value), true);
      bytes.push(...b);
      break;
    }
  }
  return bytes;
}
