/**
 * The `kernels` command: what the WebAssembly backend runs. Without flags it lists every
 * function of the kernel module our TypeScript emits (with its instruction count and what it
 * computes), and whether this runtime validates relaxed SIMD's fused multiply-add; `--wat`
 * prints the whole module in the WebAssembly text format, so a reader can see every
 * instruction, and `--wat NAME` one function.
 *
 * ```sh
 * deno task llama kernels
 * deno task llama kernels --wat tile_bf16_4x1
 * ```
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import {
  buildKernelModule,
  dotAddOf,
  relaxedSimdAvailable,
  unsignedDotAddOf,
} from "../kernels/wasm/kernels.ts";
import { functionText, moduleText } from "../wasm/text.ts";
import { parseCommandArgs } from "./options.ts";
import { writeOut } from "./terminal.ts";

/** `--help` of `kernels`. */
export const KERNELS_HELP = `Usage: llama kernels [--wat [NAME]] [--no-fma]

Lists the WebAssembly kernels llama-bolts emits at startup (no compiler, no .wasm files), or
prints them in the WebAssembly text format.

Options:
  --wat [NAME]   print the whole module, or only function NAME, as WebAssembly text
  --no-fma       show the kernels as emitted without relaxed SIMD's fused multiply-add

Examples:
  llama kernels
  llama kernels --wat matmul_bf16
  llama kernels --wat tile_q4_0_8x1
  llama kernels --wat > kernels.wat
`;

/**
 * Runs `kernels`.
 *
 * @param args The arguments after the command name.
 * @returns The exit code.
 */
export function runKernels(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("kernels", args, {
    wat: { type: "boolean" },
    "no-fma": { type: "boolean" },
  });
  const fma = values["no-fma"] === true ? false : relaxedSimdAvailable();
  const module = buildKernelModule({ fma });
  if (values.wat === true) {
    if (positionals.length > 1) throw new UsageError("kernels: --wat takes at most one NAME");
    if (positionals.length === 0) {
      writeOut(moduleText(module));
      return Promise.resolve(0);
    }
    const fn = module.functions.find((f) => f.name === positionals[0]);
    if (fn === undefined) {
      throw new UsageError(`kernels: no function named '${positionals[0]}'`, {
        fix: "run 'llama kernels' for the list of names",
      });
    }
    writeOut(functionText(fn).join("\n") + "\n");
    return Promise.resolve(0);
  }
  if (positionals.length > 0) {
    throw new UsageError(`kernels: unexpected argument '${positionals[0]}' (did you mean --wat?)`);
  }
  const bytes = module.encode().length;
  const lines = [
    `kernel module: ${module.functions.length} functions, ${bytes} bytes, imports memories ` +
    module.memories.map((m) => `${m.name} (${m.address === "i64" ? "64" : "32"}-bit)`).join(
      " and ",
    ),
    `multiply-add: ${
      fma ? "f32x4.relaxed_madd (relaxed SIMD validates here)" : "f32x4.mul + f32x4.add"
    }`,
    `8-bit dot products: ${
      !fma
        ? "widened to int16, i32x4.dot_i16x8_s"
        : dotAddOf({ fma })
        ? `i32x4.relaxed_dot_i8x16_i7x16_add_s (${
          unsignedDotAddOf({ fma }) ? "AVX-VNNI's vpdpbusd here" : "measured faster here"
        })`
        : "i16x8.relaxed_dot_i8x16_i7x16_s (the accumulating form measured slower here)"
    }`,
    `Q8_0 weights: ${
      !fma
        ? "signed, widened to int16"
        : unsignedDotAddOf({ fma })
        ? "sign bits flipped to unsigned bytes (the dot product reads them so here: vpdpbusd)"
        : "signed, against activations split into max(xq, 0) and max(-xq, 0)"
    }`,
    "",
  ];
  const width = Math.max(...module.functions.map((f) => f.name.length));
  for (const f of module.functions) {
    const doc = (f.doc ?? "").split("\n")[0];
    lines.push(`  ${f.name.padEnd(width)}  ${String(f.code.length).padStart(5)} instr  ${doc}`);
  }
  lines.push("", "'llama kernels --wat NAME' prints one function's instructions.");
  writeOut(lines.join("\n") + "\n");
  return Promise.resolve(0);
}
