/**
 * Command-line flag parsing shared by every command: a thin layer over
 * `node:util`'s `parseArgs` that turns its exceptions into one-line
 * {@linkcode UsageError}s and validates numeric values with their valid range.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../errors.ts";

/** The option table `parseArgs` takes. */
export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flags and positional arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses `args` against `spec`; unknown flags and missing values become a
 * {@linkcode UsageError} that names the command and points at `--help`.
 *
 * @param command the command name, for messages ("complete")
 * @param args the arguments after the command name
 * @param spec the accepted options
 * @param helpCommand how the user asks for help, named in the error
 * @returns the flag values and positionals
 */
export function parseCommandArgs(
  command: string,
  args: string[],
  spec: OptionSpec,
  helpCommand = `llama ${command} --help`,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: glueNegativeNumbers(args, spec),
      options: spec,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs["values"], positionals };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${command}: ${firstLine(reason)} (see '${helpCommand}')`);
  }
}

/**
 * Turns `--temperature -1` into `--temperature=-1`: parseArgs refuses a value that starts
 * with "-" as ambiguous, but a negative number should reach {@linkcode numberFlag}, whose
 * message names the valid range.
 */
function glueNegativeNumbers(args: string[], spec: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return out.concat(args.slice(i));
    const next = args[i + 1];
    const option = arg.startsWith("--") ? spec[arg.slice(2)] : undefined;
    if (option?.type === "string" && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function firstLine(text: string): string {
  // parseArgs appends advice about "--" to unknown options; keep the first sentence.
  return text.split("\n")[0].split(". ")[0].replace(/\.$/, "");
}

/** Bounds for {@linkcode numberFlag}. */
export interface NumberRange {
  min?: number;
  max?: number;
  /** Exclude `min` itself. */
  minExclusive?: boolean;
  integer?: boolean;
}

/**
 * Reads a numeric flag: `undefined` when absent, a {@linkcode UsageError}
 * naming the valid range when the value is not a number inside it.
 *
 * @param name the flag name without dashes ("top-p")
 * @param raw the string value from the command line
 * @param range the valid range
 * @returns the number, or undefined when the flag was not given
 */
export function numberFlag(
  name: string,
  raw: string | boolean | undefined,
  range: NumberRange,
): number | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const value = text === "" ? NaN : Number(text);
  const valid = Number.isFinite(value) &&
    (!range.integer || Number.isInteger(value)) &&
    (range.min === undefined || (range.minExclusive ? value > range.min : value >= range.min)) &&
    (range.max === undefined || value <= range.max);
  if (!valid) {
    throw new UsageError(`--${name}: expected ${describeRange(range)}, got '${text}'`);
  }
  return value;
}

function describeRange(range: NumberRange): string {
  const kind = range.integer ? "an integer" : "a number";
  const low = range.min === undefined ? "" : `${range.minExclusive ? "(" : "["}${range.min}`;
  const high = range.max === undefined ? "" : `${range.max}]`;
  if (low && high) return `${kind} in ${low}, ${high}`;
  if (low) return `${kind} ${range.minExclusive ? ">" : ">="} ${range.min}`;
  if (high) return `${kind} <= ${range.max}`;
  return kind;
}
