/**
 * Ctrl+C for the whole program: one SIGINT listener, a stack of handlers. While a generation
 * runs, its handler is on top and stops it (the command then prints its stats and exits 130;
 * chat and the menu return to their prompt). With no handler, Ctrl+C removes the temporaries
 * still being written ({@linkcode removeTemporaries}) and exits 130 at once, the conventional
 * code for "ended by SIGINT"; the process exit ends the workers and unmaps the weights.
 *
 * @example
 * ```ts
 * import { onInterrupt } from "./interrupt.ts";
 *
 * const controller = new AbortController();
 * {
 *   using _ = onInterrupt(() => controller.abort());
 *   // ... generate with controller.signal ...
 * }
 * ```
 *
 * @module
 */

import { removeTemporaries } from "../formats/atomic_file.ts";
import { writeErr } from "./terminal.ts";

/** The exit code of a program ended by Ctrl+C (128 + SIGINT's number 2). */
export const INTERRUPTED_EXIT_CODE = 130;

const handlers: Array<() => void> = [];
let listening = false;

function dispatch(): void {
  const top = handlers.at(-1);
  if (top !== undefined) top();
  else exitInterrupted();
}

/**
 * Starts listening for Ctrl+C (idempotent). Until a handler is pushed, Ctrl+C removes
 * temporaries and exits 130.
 */
export function listenForInterrupt(): void {
  if (listening) return;
  Deno.addSignalListener("SIGINT", dispatch);
  listening = true;
}

/**
 * Makes `handler` the answer to Ctrl+C until the returned object is disposed.
 *
 * @param handler What to do on Ctrl+C (e.g. abort a generation).
 * @returns Dispose it to restore the previous handler.
 */
export function onInterrupt(handler: () => void): Disposable {
  listenForInterrupt();
  handlers.push(handler);
  return {
    [Symbol.dispose]() {
      const at = handlers.lastIndexOf(handler);
      if (at >= 0) handlers.splice(at, 1);
    },
  };
}

/** Removes the temporaries being written, says so, and exits 130. */
export function exitInterrupted(): never {
  const removed = removeTemporaries();
  writeErr(`\ninterrupted${removed > 0 ? ` (removed ${removed} unfinished file(s))` : ""}\n`);
  Deno.exit(INTERRUPTED_EXIT_CODE);
}
