/**
 * Test worker for `tests/weights_memory_test.ts`: receives a weights memory (a shared
 * `WebAssembly.Memory`) and byte ranges, and posts back copies of those bytes as this thread
 * sees them, both through `memory.buffer` and through a WebAssembly load.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import { ModuleBuilder } from "../../lib/wasm/module.ts";
import { i32 } from "../../lib/wasm/ops.ts";

/** What the test posts. */
export interface WeightsWorkerRequest {
  memory: WebAssembly.Memory;
  ranges: [number, number][];
}

/** What the worker answers. */
export type WeightsWorkerReply =
  | { ok: true; byteLength: number; slices: Uint8Array[]; wasmWords: number[] }
  | { ok: false; message: string };

/** `load(address) -> i32`: a 32-bit little-endian load from a 64-bit memory. */
export function loadModule(): WebAssembly.Module {
  const m = new ModuleBuilder();
  const mem = m.importMemory("weights", {
    address: "i64",
    shared: true,
    minimum: 1,
    maximum: 262144,
  });
  m.func("load", { address: "i64" }, "i32", (f, { address }) => f.return(i32.load(mem, address)));
  return new WebAssembly.Module(m.encode());
}

self.onmessage = (event: MessageEvent<WeightsWorkerRequest>) => {
  try {
    const { memory, ranges } = event.data;
    const load = new WebAssembly.Instance(loadModule(), { env: { weights: memory } }).exports
      .load as (address: bigint) => number;
    const reply: WeightsWorkerReply = {
      ok: true,
      byteLength: memory.buffer.byteLength,
      slices: ranges.map(([offset, length]) =>
        new Uint8Array(memory.buffer, offset, length).slice()
      ),
      wasmWords: ranges.map(([offset]) => load(BigInt(offset)) >>> 0),
    };
    self.postMessage(reply);
  } catch (error) {
    self.postMessage({ ok: false, message: String(error) } satisfies WeightsWorkerReply);
  }
};
