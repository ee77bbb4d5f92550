/**
 * Small terminal helpers: reading lines from standard input (a terminal or a
 * pipe), colors that honor `--no-color` and `NO_COLOR`, and writing text
 * synchronously so streamed tokens appear at once.
 *
 * @module
 */

import { styleText } from "node:util";

const encoder = new TextEncoder();

/** Writes text to stdout immediately (no buffering). */
export function writeOut(text: string): void {
  writeAll(Deno.stdout, encoder.encode(text));
}

/** Writes text to stderr immediately (no buffering). */
export function writeErr(text: string): void {
  writeAll(Deno.stderr, encoder.encode(text));
}

function writeAll(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += target.writeSync(bytes.subarray(done));
}

/** Whether colors are wanted: off with `--no-color`, `NO_COLOR`, or when not a terminal. */
export function colorEnabled(
  noColorFlag: boolean,
  stream: "stdout" | "stderr" = "stdout",
): boolean {
  if (noColorFlag) return false;
  if ((Deno.env.get("NO_COLOR") ?? "") !== "") return false;
  return stream === "stdout" ? Deno.stdout.isTerminal() : Deno.stderr.isTerminal();
}

/** A text styler that is the identity when colors are off. */
export type Paint = (format: Parameters<typeof styleText>[0], text: string) => string;

/** Returns a styler honoring `enabled`. */
export function painter(enabled: boolean): Paint {
  return enabled ? (format, text) => styleText(format, text, { validateStream: false }) : (
    _format,
    text,
  ) => text;
}

/**
 * Reads standard input one line at a time, whether it is a terminal or a
 * pipe. `readLine` resolves to `null` at end of input.
 */
export class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #done = false;

  constructor(stream: ReadableStream<Uint8Array> = Deno.stdin.readable) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /**
   * Prints `prompt` (if any) and reads one line without its line ending.
   *
   * @param prompt text shown before the input
   * @returns the line, or null at end of input
   */
  async readLine(prompt = ""): Promise<string | null> {
    if (prompt) writeOut(prompt);
    while (true) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline).replace(/\r$/, "");
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      if (this.#done) {
        if (this.#buffer === "") return null;
        const line = this.#buffer;
        this.#buffer = "";
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else this.#buffer += value;
    }
  }

  /** Reads everything that is left. */
  async readAll(): Promise<string> {
    let text = this.#buffer;
    this.#buffer = "";
    while (!this.#done) {
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else text += value;
    }
    return text;
  }

  /** Releases standard input. */
  release(): void {
    this.#reader.releaseLock();
  }
}
