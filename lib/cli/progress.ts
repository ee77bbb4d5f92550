/**
 * The progress line of long writes (`make-model`, `convert`): percent, size done and total,
 * MB/s and time left, on stderr. On a terminal it is redrawn in place at most ten times a
 * second; otherwise it is one plain line per tenth of the work.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 *
 * const progress = new Progress(Deno.stderr.isTerminal());
 * progress.update(512e6, 2e9); // " 25.6%  512.0 MB / 2.00 GB  …"
 * const seconds = progress.finish();
 * ```
 *
 * @module
 */

import { writeErr } from "./terminal.ts";

/** A size for people: MB below 1 GB, else GB. */
export function gigabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** A rate for people: MB/s. */
export function megabytesPerSecond(bytes: number, seconds: number): string {
  return `${(bytes / 1e6 / Math.max(seconds, 1e-3)).toFixed(0)} MB/s`;
}

/** The progress line: redrawn in place on a terminal, else one line per 10%. */
export class Progress {
  readonly #terminal: boolean;
  readonly #start = performance.now();
  #lastDraw = 0;
  #lastTenth = 0;
  #drawn = false;

  /** @param terminal Redraw in place (stderr is a terminal), else print plain lines. */
  constructor(terminal: boolean) {
    this.#terminal = terminal;
  }

  /** Shows `done` of `total` bytes. */
  update(done: number, total: number): void {
    const now = performance.now();
    const seconds = (now - this.#start) / 1000;
    const percent = total > 0 ? (100 * done) / total : 100;
    const rate = done / Math.max(seconds, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : 0;
    const line = `${percent.toFixed(1).padStart(5)}%  ${gigabytes(done)} / ${gigabytes(total)}  ` +
      `${megabytesPerSecond(done, seconds)}  ETA ${formatSeconds(eta)}`;
    if (this.#terminal) {
      if (now - this.#lastDraw < 100 && done < total) return;
      this.#lastDraw = now;
      this.#drawn = true;
      writeErr(`\r\x1b[K${line}`);
    } else {
      const tenth = Math.floor(percent / 10);
      if (tenth <= this.#lastTenth && done < total) return;
      if (done >= total && this.#lastTenth >= 10) return;
      this.#lastTenth = tenth;
      writeErr(`${line}\n`);
    }
  }

  /** Ends the line; returns the seconds since the start. */
  finish(): number {
    if (this.#drawn) writeErr("\n");
    return (performance.now() - this.#start) / 1000;
  }
}

function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}
