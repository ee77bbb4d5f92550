/**
 * Typed errors that teach: each says what was expected, what was found, which
 * file it concerns and how to fix it. The CLI prints `error.message` only,
 * never a stack trace.
 *
 * @example
 * ```ts
 * throw new CheckpointError("expected a zip archive, found no end-of-central-directory record", {
 *   path: "/models/consolidated.00.pth",
 *   fix: "re-download the checkpoint; the file is truncated or not a .pth",
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

/** A `.pth` checkpoint (zip or pickle layer) is missing, corrupt or unsupported. */
export class CheckpointError extends LlamaError {}

/** `params.json` is missing or invalid, or a tensor disagrees with it. */
export class ConfigError extends LlamaError {}

/** `tokenizer.model` is missing or malformed, or a token id is out of range. */
export class TokenizerError extends LlamaError {}

/** The prompt and requested tokens do not fit the context window. */
export class ContextError extends LlamaError {}

/** Memory mapping or another native call failed. */
export class MappingError extends LlamaError {}

/** Bad command-line usage: unknown flag, bad value. Exit code 2. */
export class UsageError extends LlamaError {
  override readonly exitCode: number = 2;
}
