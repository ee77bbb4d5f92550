/**
 * llama-bolts command line: picks the command and hands it its arguments.
 * Every command lives in `lib/cli/`; errors print as one message, never a
 * stack trace.
 *
 * @module
 */

import { LlamaError } from "./lib/errors.ts";
import { HELP } from "./lib/cli/help.ts";
import { writeErr, writeOut } from "./lib/cli/terminal.ts";
import { COMMANDS } from "./lib/cli/commands.ts";
import { listenForInterrupt } from "./lib/cli/interrupt.ts";

async function main(args: string[]): Promise<number> {
  const first = args[0];
  if (first === "help" || first === "--help" || first === "-h") {
    const topic = first === "help" ? args[1] ?? "" : "";
    // Own keys only: `help constructor` must not find Object.prototype's.
    if (!Object.hasOwn(HELP, topic)) {
      writeErr(`llama: no help for '${topic}'; commands: ${Object.keys(COMMANDS).join(", ")}\n`);
      return 2;
    }
    writeOut(HELP[topic]);
    return 0;
  }
  // No command (or flags only): the interactive menu.
  const command = first === undefined || first.startsWith("-") ? "menu" : first;
  const rest = command === "menu" ? args : args.slice(1);
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) {
    writeErr(`llama: unknown command '${command}' (see 'llama help')\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    writeOut(Object.hasOwn(HELP, command) ? HELP[command] : HELP[""]);
    return 0;
  }
  return await run(rest);
}

try {
  // Ctrl+C outside a generation: remove unfinished files, exit 130.
  listenForInterrupt();
  Deno.exitCode = await main(Deno.args);
} catch (error) {
  if (error instanceof LlamaError) {
    writeErr(`error: ${error.message}\n`);
    Deno.exitCode = error.exitCode;
  } else if (error instanceof Deno.errors.NotCapable) {
    // Deno asks for every permission before touching devices and /proc: no task flag helps.
    const special = error.message.includes("Requires all access");
    writeErr(
      `error: ${error.message}\n  fix: ${
        special
          ? "pass a regular file or folder, not a device or a path under /dev or /proc"
          : "run through 'deno task llama', which grants the needed permissions"
      }\n`,
    );
    Deno.exitCode = 1;
  } else {
    throw error;
  }
}
