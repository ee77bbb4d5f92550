/**
 * The interactive menu of Llama Nuts and Bolts: predefined text-completion and
 * chat prompts (the seed's wording), model metadata, or the user's own prompt.
 * After each generation the menu comes back; end of input leaves.
 *
 * @module
 */

import { encodeChat, firstTurn } from "../tokenizer/chat_template.ts";
import type { Generation } from "../generate/generate.ts";
import { Session } from "../generate/session.ts";
import { runInfo } from "./info.ts";
import { LoadedModel } from "./loaded_model.ts";
import { parseCommandArgs, type ParsedArgs } from "./options.ts";
import { GENERATION_FLAGS, readRunOptions, type RunOptions } from "./run_options.ts";
import { streamGeneration } from "./stream_view.ts";
import { LineReader, type Paint, painter, writeOut } from "./terminal.ts";
import { UsageError } from "../errors.ts";

/** One predefined prompt of the menu. */
export interface MenuPrompt {
  chat: boolean;
  system?: string;
  prompt: string;
}

/** The seed's predefined prompts, choices 1 to 6. */
export const PREDEFINED_PROMPTS: readonly MenuPrompt[] = [
  { chat: false, prompt: "Hello, my name is" },
  { chat: true, system: "You are Einstein", prompt: "Describe your theory." },
  {
    chat: true,
    system: "Answer in 20 words, directly, and without an introduction",
    prompt: "Can you explain what is Theory of relativity?",
  },
  {
    chat: true,
    system: "You are a pirate",
    prompt: "Explain what is quantum computer in 20 words.",
  },
  { chat: true, system: "Always answer with emojis", prompt: "How to go from Beijing to NY?" },
  { chat: true, system: "Answer with only one emoji", prompt: "What is the flag of Turkey?" },
];

const LAST_CHOICE = PREDEFINED_PROMPTS.length + 2;

/**
 * The menu text, as the seed prints it.
 *
 * @param paint styler (bold labels when colors are on)
 */
export function menuText(paint: Paint): string {
  const pad = (label: string) => label.padEnd(17);
  const lines = [
    paint("bold", "Select from our predefined prompts (latest two are for manual input):"),
  ];
  lines.push(` 0. ${pad("")} Print model metadata (tensor list, hyperparameters, etc...)`);
  PREDEFINED_PROMPTS.forEach((p, i) => {
    const n = String(i + 1).padStart(2);
    if (p.chat) {
      lines.push(`${n}. ${pad("[Chat mode]")} ${paint("bold", "System Prompt:")} ${p.system}`);
      lines.push(`${" ".repeat(22)}${paint("bold", "Prompt:")} ${p.prompt}`);
    } else {
      lines.push(`${n}. ${pad("[Text completion]")} ${paint("bold", "Prompt:")} ${p.prompt}`);
    }
  });
  lines.push(
    `${String(LAST_CHOICE - 1).padStart(2)}. ${pad("[Text completion]")} Other, manual input`,
  );
  lines.push(`${String(LAST_CHOICE).padStart(2)}. ${pad("[Chat mode]")} Other, manual input`);
  return lines.join("\n") + "\n";
}

/**
 * Reads a menu choice: a number from 0 to 8. Anything else gets a one-line
 * reason and the question again; null at end of input.
 */
async function askChoice(reader: LineReader, paint: Paint): Promise<number | null> {
  while (true) {
    const line = await reader.readLine(
      paint("bold", `\nYour choice (choose 0 to ${LAST_CHOICE} and press Enter): `),
    );
    if (line === null) return null;
    const text = line.trim();
    if (!/^[-+]?\d+$/.test(text)) {
      writeOut(`Not a valid number: '${text}'.\n`);
      continue;
    }
    const choice = Number(text);
    if (choice < 0 || choice > LAST_CHOICE) {
      writeOut(`Choice must be between 0 and ${LAST_CHOICE}.\n`);
      continue;
    }
    return choice;
  }
}

/** Asks for the manual prompt (and system prompt in chat mode); null at end of input. */
async function askManual(
  reader: LineReader,
  chat: boolean,
  paint: Paint,
): Promise<MenuPrompt | null> {
  let system = "";
  if (chat) {
    const line = await reader.readLine(
      paint("bold", 'Write down your "system prompt" (optional) and press Enter: '),
    );
    if (line === null) return null;
    system = line.trim();
  }
  while (true) {
    const line = await reader.readLine(paint("bold", "Write down your prompt and press Enter: "));
    if (line === null) return null;
    if (line.trim() !== "") return { chat, system, prompt: line.trim() };
    writeOut("The prompt you entered is empty.\n");
  }
}

/**
 * Runs the menu with the program's arguments (`llama [OPTIONS]`).
 *
 * @param args command-line arguments
 * @returns the exit code
 */
export async function runMenu(args: string[]): Promise<number> {
  const { values, positionals }: ParsedArgs = parseCommandArgs("menu", args, GENERATION_FLAGS);
  if (positionals.length > 0) {
    throw new UsageError(`unknown command '${positionals[0]}' (see 'llama help')`);
  }
  const run = readRunOptions(values);
  const paint = painter(run.color);
  using model = await LoadedModel.load(run.modelFlag, run, false);
  const reader = new LineReader();
  try {
    await menuLoop(model, reader, run, paint);
  } finally {
    reader.release();
  }
  return 0;
}

async function menuLoop(
  model: LoadedModel,
  reader: LineReader,
  run: RunOptions,
  paint: Paint,
): Promise<void> {
  while (true) {
    writeOut("\n" + menuText(paint));
    const choice = await askChoice(reader, paint);
    if (choice === null) {
      writeOut("\n");
      return;
    }
    if (choice === 0) {
      writeOut(runInfo(model.checkpoint, { json: false }) + "\n\nModel metadata was printed.\n");
      continue;
    }
    const picked = choice <= PREDEFINED_PROMPTS.length
      ? PREDEFINED_PROMPTS[choice - 1]
      : await askManual(reader, choice === LAST_CHOICE, paint);
    if (picked === null) {
      writeOut("\n");
      return;
    }
    await runMenuPrompt(model, picked, run, paint);
  }
}

/**
 * Generates for one menu prompt in a fresh conversation, with the live status block (also
 * used by `deno task demo`).
 *
 * @param model the loaded model
 * @param picked a prompt, e.g. one of {@linkcode PREDEFINED_PROMPTS}
 * @param run generation settings
 * @param paint styler
 * @returns the finished generation
 */
export async function runMenuPrompt(
  model: LoadedModel,
  picked: MenuPrompt,
  run: RunOptions,
  paint: Paint,
): Promise<Generation> {
  const tok = model.tokenizer;
  let ids: number[];
  let title: string;
  if (picked.chat) {
    model.requireLlama3Chat();
    ids = encodeChat(tok, firstTurn(picked.system, picked.prompt), { bos: true });
    title = `[Chat mode] ${
      picked.system ? `System prompt: ${picked.system} / ` : ""
    }Prompt: ${picked.prompt}`;
  } else {
    ids = tok.encode(picked.prompt, { bos: true });
    title = `[Text completion] Prompt: ${picked.prompt}`;
  }
  const terminal = Deno.stdout.isTerminal();
  if (!terminal) writeOut(`\n${title}\n`);
  const session = new Session(model.transformer);
  return await streamGeneration(model, session, ids, run, {
    title,
    liveStatus: true,
    terminal,
    paint,
    printText: true,
    printStats: true,
    clampToContext: true,
    leadText: picked.chat ? "" : picked.prompt,
  });
}
