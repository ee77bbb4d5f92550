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

export { type ErrorDetails, LlamaError, MappingError } from "../ffi/errors.ts";
import { LlamaError } from "../ffi/errors.ts";

/** A `.pth` checkpoint (zip or pickle layer) is missing, corrupt or unsupported. */
export class CheckpointError extends LlamaError {}

/** `params.json` is missing or invalid, or a tensor disagrees with it. */
export class ConfigError extends LlamaError {}

/** `tokenizer.model` is missing or malformed, or a token id is out of range. */
export class TokenizerError extends LlamaError {}

/** The prompt and requested tokens do not fit the context window. */
export class ContextError extends LlamaError {}

/** A file llama-bolts writes cannot go where it was asked to (no such folder, a folder there). */
export class OutputError extends LlamaError {}

/** Bad command-line usage: unknown flag, bad value. Exit code 2. */
export class UsageError extends LlamaError {
  override readonly exitCode: number = 2;
}
