/**
 * A worker for `wasm_ceiling_bench.ts`: waits on a shared flag, runs the probe it is told to on
 * its own range of the memory, and counts down a pending counter, so that several threads read
 * memory (or multiply) at the same time.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import { instantiateProbes } from "../wasm_probes.ts";

/** What the bench posts once. */
export interface ProbeWorkerStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Int32 words: [sequence, pending, kind (1 read, 2 fma), share]. */
  control: SharedArrayBuffer;
  /** Float64 words: [byte offset, bytes, fma steps] per share. */
  args: SharedArrayBuffer;
  share: number;
}

self.onmessage = (event: MessageEvent<ProbeWorkerStart>) => {
  const { module, memory, control, args, share } = event.data;
  const probes = instantiateProbes(module, memory);
  const c = new Int32Array(control), a = new Float64Array(args);
  probes.fma(100);
  probes.read(0n, 65536n);
  self.postMessage("ready");
  let seen = 0;
  for (;;) {
    Atomics.wait(c, 0, seen);
    seen = Atomics.load(c, 0);
    if (c[2] === 1) probes.read(BigInt(a[3 * share]), BigInt(a[3 * share + 1]));
    else probes.fma(a[3 * share + 2]);
    if (Atomics.sub(c, 1, 1) === 1) Atomics.notify(c, 1);
  }
};
