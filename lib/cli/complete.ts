/**
 * `llama complete PROMPT`: text completion. The prompt gets
 * `<|begin_of_text|>` first, as Meta's reference does; the text streams to
 * stdout and the stats go to stderr. `-` reads the prompt from stdin.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { AtomicFile } from "../formats/atomic_file.ts";
import { Session } from "../generate/session.ts";
import { LoadedModel } from "./loaded_model.ts";
import { parseCommandArgs } from "./options.ts";
import { INTERRUPTED_EXIT_CODE } from "./interrupt.ts";
import { GENERATION_FLAGS, readRunOptions } from "./run_options.ts";
import { statsJson, streamGeneration } from "./stream_view.ts";
import { LineReader, painter, writeOut } from "./terminal.ts";

/**
 * Runs `complete` with the arguments after the command name.
 *
 * @param args command-line arguments
 * @returns the exit code
 */
export async function runComplete(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("complete", args, {
    ...GENERATION_FLAGS,
    "logits-out": { type: "string" },
  });
  const run = readRunOptions(values);
  // Emoji names help a person reading a terminal; piped text stays the model's own.
  run.emojiNames &&= Deno.stdout.isTerminal();
  if (positionals.length !== 1) {
    throw new UsageError(
      `complete: expected one PROMPT argument (or - for stdin), got ${positionals.length} ` +
        `(quote the prompt; see 'llama complete --help')`,
    );
  }
  let prompt = positionals[0];
  if (prompt === "-") {
    const reader = new LineReader();
    prompt = (await reader.readAll()).replace(/\r?\n$/, "");
    reader.release();
  }
  if (prompt === "") throw new UsageError("complete: expected a non-empty prompt");
  const logitsPath = typeof values["logits-out"] === "string" ? values["logits-out"] : undefined;

  // The destination is checked (and its temporary opened) before the long load; the file
  // appears only when the generation ends normally, never half-written.
  using logitsFile = logitsPath ? AtomicFile.open(logitsPath, "--logits-out") : undefined;
  using model = await LoadedModel.load(run.modelFlag, run, run.json);
  const session = new Session(model.transformer);
  const promptIds = model.tokenizer.encode(prompt, { bos: true });
  // One reusable copy: the logits live in shared memory, which file writes do not take.
  const row = new Float32Array(model.checkpoint.config.vocabSize);
  const rowBytes = new Uint8Array(row.buffer);
  const generation = await streamGeneration(model, session, promptIds, run, {
    title: "complete",
    liveStatus: false,
    terminal: Deno.stdout.isTerminal(),
    paint: painter(run.color),
    printText: !run.json,
    printStats: !run.json,
    clampToContext: false,
    onLogits: logitsFile
      ? (logits) => {
        row.set(logits);
        logitsFile.write(rowBytes);
      }
      : undefined,
  });
  if (run.json) {
    writeOut(
      JSON.stringify({
        prompt_tokens: promptIds,
        tokens: generation.ids,
        text: generation.text,
        stop_reason: generation.stopReason,
        stats: statsJson(generation, model.loadMs),
      }) + "\n",
    );
  }
  if (generation.stopReason === "aborted") return INTERRUPTED_EXIT_CODE; // the logits are dropped
  logitsFile?.commit();
  return 0;
}
