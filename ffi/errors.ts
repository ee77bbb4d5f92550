/**
 * The errors llama-bolts reports to its users, defined at the bottom layer so that `ffi/`
 * can raise them without importing anything above it. `lib/errors.ts` re-exports both classes
 * and adds one subclass per concern (checkpoint, config, tokenizer, …).
 *
 * Each error says what was expected, what was found, which file it concerns and how to fix
 * it. The CLI prints `error.message` only, never a stack trace.
 *
 * @example
 * ```ts
 * import { MappingError } from "./errors.ts";
 *
 * throw new MappingError("expected a regular file, found a directory", {
 *   path: "/models/consolidated.00.pth",
 *   fix: "pass the path of the file itself, not of its folder",
 * });
 * ```
 *
 * @module
 */

/** Where an error happened and what the user can do about it. */
export interface ErrorDetails {
  /** The file or folder the error concerns. */
  path?: string;
  /** One sentence telling the user how to fix it. */
  fix?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** Base class of every error llama-bolts reports to the user. */
export class LlamaError extends Error {
  /** The file or folder the error concerns. */
  readonly path?: string;
  /** How to fix it. */
  readonly fix?: string;
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;

  constructor(message: string, details: ErrorDetails = {}) {
    const lines = [message];
    if (details.path) lines.push(`  file: ${details.path}`);
    if (details.fix) lines.push(`  fix: ${details.fix}`);
    super(lines.join("\n"), { cause: details.cause });
    this.name = new.target.name;
    this.path = details.path;
    this.fix = details.fix;
  }
}

/** Memory mapping, reading a file into memory, or another native call failed. */
export class MappingError extends LlamaError {}
