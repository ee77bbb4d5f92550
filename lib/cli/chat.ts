/**
 * `llama chat`: a multi-turn conversation with the Instruct model. Every turn
 * is appended to the same {@linkcode Session}, so the KV cache keeps the
 * earlier turns and only the new message is processed.
 *
 * @module
 */

import { encodeChat, firstTurn } from "../tokenizer/chat_template.ts";
import type { Generation } from "../generate/generate.ts";
import { Session } from "../generate/session.ts";
import { LoadedModel } from "./loaded_model.ts";
import { parseCommandArgs } from "./options.ts";
import { GENERATION_FLAGS, readRunOptions, type RunOptions } from "./run_options.ts";
import { statsJson, statsLine, streamGeneration } from "./stream_view.ts";
import { LineReader, type Paint, painter, writeErr, writeOut } from "./terminal.ts";

/**
 * Runs `chat` with the arguments after the command name.
 *
 * @param args command-line arguments
 * @returns the exit code
 */
export async function runChat(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("chat", args, {
    ...GENERATION_FLAGS,
    system: { type: "string" },
  });
  if (positionals.length > 0) {
    writeErr(`chat: ignoring '${positionals.join(" ")}'; type messages at the prompt\n`);
  }
  const run = readRunOptions(values);
  using model = await LoadedModel.load(run.modelFlag, run, false);
  const reader = new LineReader();
  try {
    await chatLoop(model, reader, run, typeof values.system === "string" ? values.system : "");
  } finally {
    reader.release();
  }
  return 0;
}

/**
 * The read–answer loop, also used by the menu's manual chat. Ends at `/exit`
 * or end of input.
 *
 * @param model the loaded model
 * @param reader standard input
 * @param run generation settings
 * @param system the initial system prompt ("" for none)
 */
export async function chatLoop(
  model: LoadedModel,
  reader: LineReader,
  run: RunOptions,
  system: string,
): Promise<void> {
  const paint = painter(run.color);
  model.requireLlama3Chat();
  const chat = new ChatState(model, system);
  writeErr(paint("dim", "type a message; /help lists the commands; Ctrl+D or /exit leaves\n"));
  while (true) {
    const line = await reader.readLine(paint("bold", "\nyou> "));
    if (line === null) {
      writeOut("\n");
      return;
    }
    const text = line.trim();
    if (text === "") continue;
    if (text.startsWith("/")) {
      if (!chat.command(text, paint)) return;
      continue;
    }
    const turn = chat.turnTokens(text);
    const context = model.transformer.contextLength;
    if (turn.length + 1 > chat.session.remaining) {
      // The turn plus one answer token must fit; say which limit the message ran into.
      writeErr(
        chat.session.tokens.length === 0
          ? `the message is too long: with the chat headers and one answer token it needs ` +
            `${turn.length + 1} tokens, the context holds ${context}; shorten it (or restart ` +
            `with a larger --context)\n`
          : `the message does not fit: it needs ${turn.length + 1} tokens, ` +
            `${chat.session.remaining} of ${context} are left; /reset starts a new ` +
            `conversation (or restart with a larger --context)\n`,
      );
      continue;
    }
    if (!run.json) writeOut(paint("bold", "llama> "));
    const generation = await streamGeneration(model, chat.session, turn, run, {
      title: "chat",
      liveStatus: false,
      terminal: Deno.stdout.isTerminal(),
      paint,
      printText: !run.json,
      printStats: !run.json,
      clampToContext: true,
    });
    chat.finished(generation);
    if (run.json) {
      writeOut(
        JSON.stringify({
          text: generation.text,
          tokens: generation.ids,
          stop_reason: generation.stopReason,
          stats: statsJson(generation, model.loadMs),
        }) + "\n",
      );
    }
    if (chat.session.remaining <= 1) {
      writeErr("the context is now full; /reset starts a new conversation\n");
    }
  }
}

/** The conversation: its session, system prompt and running totals. */
class ChatState {
  readonly session: Session;
  #model: LoadedModel;
  #system: string;
  #last: Generation | undefined;
  #turns = 0;
  #generated = 0;

  constructor(model: LoadedModel, system: string) {
    this.#model = model;
    this.#system = system;
    this.session = new Session(model.transformer);
  }

  /** The tokens that add a user message and open the assistant's answer. */
  turnTokens(text: string): number[] {
    const tok = this.#model.tokenizer;
    let ids: number[];
    if (this.session.tokens.length === 0) {
      ids = encodeChat(tok, firstTurn(this.#system, text), { bos: true });
    } else {
      // An answer cut short (limit or Ctrl+C) has no <|eot_id|> yet: close it.
      const closed = this.session.tokens.at(-1) === tok.eotId ? [] : [tok.eotId];
      ids = [...closed, ...encodeChat(tok, [{ role: "user", content: text }], { bos: false })];
    }
    return ids;
  }

  finished(generation: Generation): void {
    this.#last = generation;
    this.#turns++;
    this.#generated += generation.ids.length;
  }

  /** Handles a /command; false means leave. */
  command(text: string, paint: Paint): boolean {
    const name = text.split(/\s+/)[0];
    const argument = text.slice(name.length).trim();
    switch (name) {
      case "/exit":
      case "/quit":
        return false;
      case "/reset":
        this.session.reset();
        writeErr("new conversation\n");
        return true;
      case "/system":
        this.#system = argument;
        this.session.reset();
        writeErr(
          argument
            ? `system prompt set; new conversation\n`
            : "system prompt cleared; new conversation\n",
        );
        return true;
      case "/stats": {
        const context = this.#model.transformer.contextLength;
        const used = this.session.tokens.length;
        writeErr(
          `context: ${used} of ${context} tokens used (${
            ((100 * used) / context).toFixed(1)
          }%) · turns: ${this.#turns} · tokens generated: ${this.#generated}\n`,
        );
        if (this.#last) writeErr(paint("dim", `last answer: ${statsLine(this.#last)}`) + "\n");
        return true;
      }
      case "/help":
        writeErr(
          "/reset  new conversation · /system TEXT  set the system prompt · /stats  speed and " +
            "context use · /exit  leave\n",
        );
        return true;
      default:
        writeErr(`unknown command ${name}; /help lists the commands\n`);
        return true;
    }
  }
}
