/**
 * The fuzzer's runner process: reads cases from stdin, runs each on its target and writes one
 * JSON line per case to stdout. The parent ({@linkcode CaseRunner} in `harness.ts`) kills it
 * when a case hangs and restarts it when a case exhausts its heap: a V8 out-of-memory abort
 * ends the whole process, even from a Web Worker, so only a process boundary contains it.
 *
 * A case on stdin: u32 little-endian length of the target name, the name, u32 length of the
 * input, the input. A result on stdout: `{"outcome": "clean"|"accepted"|"crash", "detail":
 * "...", "ms": n, "rssMB": n}`.
 *
 * @module
 */

import { LlamaError } from "../lib/errors.ts";
import { TARGETS } from "./targets.ts";

/** Longest error message a clean refusal may have (the issue found 6,000,000-character ones). */
const MAX_MESSAGE = 2000;
// deno-lint-ignore no-control-regex
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

/**
 * Not a fuzz target: the harness's own test of hang detection. Computes (a busy loop) for as
 * many milliseconds as the input's first four bytes say, little-endian.
 */
const SPIN = "spin";

/** Classifies one run. */
function runCase(target: string, bytes: Uint8Array): { outcome: string; detail: string } {
  if (target === SPIN) {
    const until = performance.now() + new DataView(bytes.buffer).getUint32(0, true);
    while (performance.now() < until) { /* computing */ }
    return { outcome: "accepted", detail: "" };
  }
  const found = TARGETS.get(target);
  if (found === undefined) return { outcome: "crash", detail: `no target ${target}` };
  try {
    found.run(bytes);
    return { outcome: "accepted", detail: "" };
  } catch (error) {
    if (error instanceof LlamaError) {
      const message = error.message;
      if (message.length > MAX_MESSAGE) {
        return { outcome: "crash", detail: `message of ${message.length} characters` };
      }
      if (RAW_CONTROL.test(message)) {
        return { outcome: "crash", detail: "message with raw control characters" };
      }
      return { outcome: "clean", detail: message.split("\n")[0].slice(0, 200) };
    }
    const name = error instanceof Error ? error.constructor.name : typeof error;
    const message = error instanceof Error ? error.message : String(error);
    return { outcome: "crash", detail: `${name}: ${message.split("\n")[0].slice(0, 200)}` };
  }
}

const reader = Deno.stdin.readable.getReader();
let buffer = new Uint8Array(0);

/** Reads exactly `n` bytes, or undefined at the end of input. */
async function readExactly(n: number): Promise<Uint8Array | undefined> {
  while (buffer.length < n) {
    const { value, done } = await reader.read();
    if (done) return undefined;
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    buffer = joined;
  }
  const out = buffer.slice(0, n);
  buffer = buffer.slice(n);
  return out;
}

async function readU32(): Promise<number | undefined> {
  const bytes = await readExactly(4);
  return bytes === undefined ? undefined : new DataView(bytes.buffer).getUint32(0, true);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
Deno.stdout.writeSync(encoder.encode(JSON.stringify({ ready: true }) + "\n"));
while (true) {
  const nameLength = await readU32();
  if (nameLength === undefined) break;
  const target = decoder.decode(await readExactly(nameLength));
  const length = await readU32();
  const bytes = length === undefined ? undefined : await readExactly(length);
  if (bytes === undefined) break;
  const started = performance.now();
  const result = runCase(target, bytes);
  const line = JSON.stringify({
    ...result,
    ms: Math.round(performance.now() - started),
    rssMB: Math.round(Deno.memoryUsage().rss / 2 ** 20),
  }) + "\n";
  const out = encoder.encode(line);
  let done = 0;
  while (done < out.length) done += Deno.stdout.writeSync(out.subarray(done));
}
