/**
 * The live status block shown while a model generates: tokens generated and
 * the limit, prompt tokens, elapsed time, tokens per second, and the layer the
 * current token is in, with the streamed text below it.
 *
 * On a terminal the block is pinned to the top rows of the screen and redrawn
 * in place, and the text scrolls in the region below it (a DECSTBM scroll
 * region), so long answers never push the status away. When stdout is not a
 * terminal the text goes to stdout untouched and the status becomes plain
 * lines on stderr, at most one per second.
 *
 * @module
 */

import { type Paint, writeErr, writeOut } from "./terminal.ts";

/** What the status block shows. */
export interface StatusState {
  /** "prefill" while the prompt is processed, "decode" while tokens are generated. */
  phase: "prefill" | "decode" | "done";
  generated: number;
  limit: number;
  promptTokens: number;
  /** Generated tokens holding an unfinished UTF-8 character (not shown yet). */
  pending: number;
  /**
   * The layer the current token is in, 1-based; `nLayers + 1` for the output layer (the
   * classifier); 0 when between tokens.
   */
  layer: number;
  nLayers: number;
}

/** Options of {@linkcode LiveStatus}. */
export interface LiveStatusOptions {
  /** Redraw in place (stdout is a terminal) or print plain lines to stderr. */
  terminal: boolean;
  paint: Paint;
  /** A one-line title, e.g. the menu choice. */
  title: string;
}

const STATUS_ROWS = 3;
const ESC = "\x1b[";

/** A status block that is redrawn as generation progresses. */
export class LiveStatus {
  #options: LiveStatusOptions;
  #state: StatusState = {
    phase: "prefill",
    generated: 0,
    limit: 0,
    promptTokens: 0,
    pending: 0,
    layer: 0,
    nLayers: 0,
  };
  #startedAt = 0;
  #firstTokenAt = 0;
  #lastDraw = 0;
  #active = false;

  constructor(options: LiveStatusOptions) {
    this.#options = options;
  }

  /** Shows the block; on a terminal clears the screen and pins the block to the top. */
  start(initial: Partial<StatusState>): void {
    Object.assign(this.#state, initial);
    this.#startedAt = performance.now();
    this.#active = true;
    if (this.#options.terminal) {
      const rows = terminalRows();
      // Clear, then confine scrolling to the rows under the status block.
      writeOut(`${ESC}2J${ESC}${STATUS_ROWS + 1};${rows}r${ESC}${STATUS_ROWS + 1};1H`);
    }
    this.#draw(true);
  }

  /** Updates some fields; redraws at most every 50 ms on a terminal. */
  update(change: Partial<StatusState>): void {
    if (change.phase === "decode" && this.#state.phase === "prefill") {
      this.#firstTokenAt = performance.now();
    }
    Object.assign(this.#state, change);
    this.#draw(false);
  }

  /** Appends streamed text below the block. */
  text(piece: string): void {
    if (piece) writeOut(piece);
  }

  /** Final redraw; releases the scroll region so later output flows normally. */
  finish(): void {
    if (!this.#active) return;
    this.#state.phase = "done";
    this.#state.layer = 0;
    if (this.#options.terminal) {
      this.#draw(true);
      // Resetting the region homes the cursor, so save and restore around it.
      writeOut(`\x1b7${ESC}r\x1b8\n`);
    }
    this.#active = false;
  }

  /** The status as one line of plain text. */
  line(): string {
    const s = this.#state;
    const elapsed = (performance.now() - this.#startedAt) / 1000;
    const decodeSeconds = this.#firstTokenAt ? (performance.now() - this.#firstTokenAt) / 1000 : 0;
    const rate = s.generated > 1 && decodeSeconds > 0
      ? `${((s.generated - 1) / decodeSeconds).toFixed(2)} tok/s`
      : "-- tok/s";
    const layer = s.layer > s.nLayers
      ? "output layer"
      : s.layer > 0
      ? `layer ${s.layer}/${s.nLayers}`
      : s.phase;
    const pending = s.pending > 0
      ? ` · ${s.pending} token${s.pending > 1 ? "s" : ""} pending (part of a character)`
      : "";
    return `tokens ${s.generated}/${s.limit} · prompt ${s.promptTokens} · ${
      elapsed.toFixed(1)
    }s · ${rate} · ${layer}${pending}`;
  }

  #draw(force: boolean): void {
    const now = performance.now();
    if (this.#options.terminal) {
      if (!force && now - this.#lastDraw < 50) return;
      this.#lastDraw = now;
      const { paint } = this.#options;
      const s = this.#state;
      const columns = terminalColumns();
      const barWidth = Math.max(10, Math.min(40, columns - 30));
      // The bar spans the layers and the output layer after them.
      const fraction = s.nLayers > 0 ? Math.min(1, s.layer / (s.nLayers + 1)) : 0;
      const filled = Math.round(fraction * barWidth);
      const bar = "█".repeat(filled) + "░".repeat(barWidth - filled);
      const rows = [
        paint("bold", clip(this.#options.title, columns)),
        clip(`${this.line()}`, columns),
        paint("dim", `${bar} ${s.phase}`.slice(0, columns)),
      ];
      let out = "\x1b7";
      rows.forEach((row, i) => out += `${ESC}${i + 1};1H${ESC}2K${row}`);
      writeOut(out + "\x1b8");
    } else {
      if (!force && now - this.#lastDraw < 1000) return;
      this.#lastDraw = now;
      writeErr(`[status] ${this.line()}\n`);
    }
  }
}

function clip(text: string, width: number): string {
  return text.length > width ? text.slice(0, Math.max(0, width - 1)) + "…" : text;
}

function terminalRows(): number {
  try {
    return Deno.consoleSize().rows;
  } catch {
    return 24;
  }
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}
