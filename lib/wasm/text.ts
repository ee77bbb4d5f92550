/**
 * The WebAssembly text format of a module built with {@linkcode ModuleBuilder}: what `deno task
 * llama kernels --wat` prints, so that a reader can see every instruction a kernel runs. Each
 * function is preceded by its kernel's comment; instructions are printed one per line,
 * indented inside blocks and loops, with locals, labels and memories by name.
 *
 * @example
 * ```ts
 * import { ModuleBuilder } from "./module.ts";
 * import { i32 } from "./ops.ts";
 * import { moduleText } from "./text.ts";
 *
 * const m = new ModuleBuilder();
 * m.func("answer", {}, "i32", (f) => f.return(i32.const(42)));
 * console.log(moduleText(m));
 * ```
 *
 * @module
 */

import { INSTRUCTIONS } from "./instructions.ts";
import type { FunctionDef, Instr, Memory, ModuleBuilder } from "./module.ts";

/**
 * Prints a whole module.
 *
 * @param module The built module.
 * @returns Its text format.
 */
export function moduleText(module: ModuleBuilder): string {
  const lines = ["(module"];
  for (const m of module.memories) lines.push(`  ${memoryImport(m)}`);
  for (const f of module.functions) lines.push(...functionText(f).map((line) => `  ${line}`));
  lines.push(")");
  return lines.join("\n") + "\n";
}

function memoryImport(m: Memory): string {
  const limits = [m.address === "i64" ? "i64" : "", String(m.minimum), m.maximum ?? ""]
    .filter((part) => part !== "").join(" ");
  return `(import "env" "${m.name}" (memory $${m.name} ${limits}${m.shared ? " shared" : ""}))`;
}

/**
 * Prints one function with its comment.
 *
 * @param f The function.
 * @returns Its lines.
 */
export function functionText(f: FunctionDef): string[] {
  const lines: string[] = [];
  for (const line of (f.doc ?? "").split("\n")) if (line.trim() !== "") lines.push(`;; ${line}`);
  const params = f.locals.slice(0, f.params.length)
    .map((l) => ` (param $${l.name} ${l.type})`).join("");
  const result = f.result === null ? "" : ` (result ${f.result})`;
  lines.push(`(func $${f.name} (export "${f.name}")${params}${result}`);
  for (const l of f.locals.slice(f.params.length)) lines.push(`  (local $${l.name} ${l.type})`);
  let depth = 1;
  for (const instr of f.code) {
    if (instr.name === "end" || instr.name === "else") depth--;
    lines.push("  ".repeat(depth) + instrText(instr));
    if (instr.name === "block" || instr.name === "loop" || instr.name === "if") depth++;
    if (instr.name === "else") depth++;
  }
  lines.push(")");
  return lines;
}

function instrText(instr: Instr): string {
  const info = INSTRUCTIONS[instr.name];
  switch (info.immediate) {
    case "block":
      return instr.opens ? `${instr.name} $${instr.opens}` : instr.name;
    case "local":
      return `${instr.name} $${instr.local!.name}`;
    case "label":
      return `${instr.name} $${instr.label!.name}`;
    case "func":
      return `${instr.name} $${instr.func!.name}`;
    case "memarg":
    case "memarg_lane": {
      const { memory, offset } = instr.memarg!;
      const lane = info.immediate === "memarg_lane" ? ` ${instr.lane}` : "";
      return `${instr.name} $${memory.name}${offset === 0 ? "" : ` offset=${offset}`}${lane}`;
    }
    case "lane":
      return `${instr.name} ${instr.lane}`;
    case "bytes16": {
      const b = instr.bytes!;
      if (instr.name === "i8x16.shuffle") return `${instr.name} ${b.join(" ")}`;
      const words = [0, 4, 8, 12].map((i) =>
        "0x" + ((b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0)
          .toString(16).padStart(8, "0")
      );
      return `${instr.name} i32x4 ${words.join(" ")}`;
    }
    case "i32":
    case "i64":
    case "f32":
    case "f64":
      return `${instr.name} ${instr.value}`;
    case "none":
      return instr.name;
  }
}
