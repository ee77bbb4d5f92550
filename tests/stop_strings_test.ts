/**
 * Stop strings over streamed pieces, against a naive reference that rescans everything from
 * the start after each piece: the text stops at the first piece that completes a stop string,
 * cut at the earliest stop string in the text so far; nothing of a stop string is shown.
 *
 * @module
 */

import assert from "node:assert/strict";
import { StopStrings } from "../lib/generate/stop_strings.ts";

/** The reference: after each piece, look for every stop string in all the text so far. */
function cutAtFirstStop(pieces: string[], stops: string[]): { text: string; stopped: boolean } {
  for (let k = 1; k <= pieces.length; k++) {
    const text = pieces.slice(0, k).join("");
    const hits = stops.filter((s) => s !== "").map((s) => text.indexOf(s)).filter((i) => i >= 0);
    if (hits.length > 0) return { text: text.slice(0, Math.min(...hits)), stopped: true };
  }
  return { text: pieces.join(""), stopped: false };
}

function streamed(pieces: string[], stops: string[]): { text: string; stopped: boolean } {
  const watcher = new StopStrings(stops);
  let text = "";
  for (const piece of pieces) {
    const out = watcher.push(piece);
    text += out.text;
    if (out.stopped) return { text, stopped: true };
  }
  return { text: text + watcher.flush(), stopped: false };
}

Deno.test("stop strings: examples", () => {
  assert.deepEqual(streamed(["Sure.\n", "User: hi"], ["\nUser:"]), {
    text: "Sure.",
    stopped: true,
  });
  assert.deepEqual(streamed(["ab", "c"], ["abd"]), { text: "abc", stopped: false });
  assert.deepEqual(streamed(["Hi 👋", " there"], ["👋"]), { text: "Hi ", stopped: true });
  // The earliest stop wins, even when a later-listed one ends first.
  assert.deepEqual(streamed(["xxabcd"], ["bcd", "ab"]), { text: "xx", stopped: true });
  assert.deepEqual(streamed(["abc"], [""]), { text: "abc", stopped: false });
  const w = new StopStrings(["END"]);
  assert.deepEqual(w.push("to the E"), { text: "to the ", stopped: false });
  assert.deepEqual(w.push("N"), { text: "", stopped: false });
  assert.deepEqual(w.push("d"), { text: "ENd", stopped: false });
});

Deno.test("stop strings: random texts split at random agree with a rescan after each piece", () => {
  let state = 12345;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  const alphabet = ["a", "b", "c", "\n", "é", "👋"];
  for (let round = 0; round < 2000; round++) {
    const text = Array.from({ length: next(30) }, () => alphabet[next(alphabet.length)]).join("");
    const stops = Array.from(
      { length: 1 + next(3) },
      () => Array.from({ length: 1 + next(3) }, () => alphabet[next(alphabet.length)]).join(""),
    );
    const pieces: string[] = [];
    const chars = [...text];
    for (let i = 0; i < chars.length;) {
      const n = 1 + next(4);
      pieces.push(chars.slice(i, i + n).join(""));
      i += n;
    }
    assert.deepEqual(
      streamed(pieces, stops),
      cutAtFirstStop(pieces, stops),
      JSON.stringify({
        pieces,
        stops,
      }),
    );
  }
});
