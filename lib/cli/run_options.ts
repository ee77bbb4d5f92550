/**
 * The options shared by the commands that generate (`complete`, `chat`, the
 * menu): the model, sampling, limits, threads and output style, parsed and
 * validated once.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { BackendName } from "../kernels/backend.ts";
import { numberFlag, type OptionSpec, type ParsedArgs } from "./options.ts";
import { type SamplerOptions, validateSamplerOptions } from "../generate/sampler.ts";
import { colorEnabled, writeErr } from "./terminal.ts";

/** Flags every generating command accepts. */
export const GENERATION_FLAGS: OptionSpec = {
  model: { type: "string" },
  temperature: { type: "string" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  seed: { type: "string" },
  "max-tokens": { type: "string" },
  context: { type: "string" },
  threads: { type: "string" },
  kernels: { type: "string" },
  "no-color": { type: "boolean" },
  "no-emoji-names": { type: "boolean" },
  json: { type: "boolean" },
};

/** Validated generation settings. */
export interface RunOptions {
  modelFlag?: string;
  sampler: SamplerOptions;
  maxTokens: number;
  /** Context length; undefined = the engine's default (8192, or less if the model has less). */
  context?: number;
  /** Threads; undefined = one per core. */
  threads?: number;
  /** The kernels (`--kernels`); undefined = WebAssembly. */
  kernels?: BackendName;
  color: boolean;
  emojiNames: boolean;
  json: boolean;
}

/** Default `--max-tokens`. */
export const DEFAULT_MAX_TOKENS = 256;

/**
 * Reads the generation flags from parsed arguments, with range checks.
 *
 * @param values flag values from {@linkcode parseCommandArgs}
 * @returns the validated settings
 */
export function readRunOptions(values: ParsedArgs["values"]): RunOptions {
  const sampler: SamplerOptions = {
    temperature: numberFlag("temperature", values.temperature, { min: 0 }) ?? 0,
    topK: numberFlag("top-k", values["top-k"], { min: 0, integer: true }),
    topP: numberFlag("top-p", values["top-p"], { min: 0, minExclusive: true, max: 1 }),
    seed: numberFlag("seed", values.seed, { min: 0, max: 2 ** 53 - 1, integer: true }),
  };
  validateSamplerOptions(sampler);
  return {
    modelFlag: typeof values.model === "string" ? values.model : undefined,
    sampler,
    maxTokens: numberFlag("max-tokens", values["max-tokens"], { min: 1, integer: true }) ??
      DEFAULT_MAX_TOKENS,
    context: numberFlag("context", values.context, { min: 16, max: 131072, integer: true }),
    threads: capThreads(numberFlag("threads", values.threads, { min: 1, integer: true })),
    kernels: kernelsFlag(values.kernels),
    color: colorEnabled(values["no-color"] === true),
    emojiNames: values["no-emoji-names"] !== true,
    json: values.json === true,
  };
}

/**
 * Caps `--threads` at the number of cores: more threads than cores only add workers (each with
 * its own copy of the kernels and memory views) that wait for each other.
 *
 * @param requested The `--threads` value, if given.
 * @param cores The machine's logical cores.
 * @param warn Where the one-line warning goes.
 * @returns The threads to use, or undefined (one per core).
 */
export function capThreads(
  requested: number | undefined,
  cores: number = navigator.hardwareConcurrency,
  warn: (line: string) => void = (line) => writeErr(line + "\n"),
): number | undefined {
  if (requested === undefined || requested <= cores) return requested;
  warn(
    `warning: --threads ${requested} is more than the ${cores} core(s) here; using ${cores}`,
  );
  return cores;
}

/**
 * Reads `--kernels`.
 *
 * @param value The flag's value, if given.
 * @returns `"wasm"`, `"ts"`, or undefined (the default).
 * @throws {UsageError} For any other value.
 */
export function kernelsFlag(value: unknown): BackendName | undefined {
  if (value === undefined) return undefined;
  if (value === "wasm" || value === "ts") return value;
  throw new UsageError(`--kernels: expected wasm or ts, found ${JSON.stringify(value)}`, {
    fix: "pass --kernels wasm (WebAssembly SIMD, the default) or --kernels ts (plain TypeScript)",
  });
}
