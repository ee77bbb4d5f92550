/**
 * What WebAssembly SIMD can do on this machine: the ceilings the WebAssembly kernels are
 * measured against (`ceiling_bench.ts` has the scalar TypeScript ones).
 *
 * - **Memory read bandwidth**, 1 thread and every thread: SIMD loads through 4 streams over
 *   256 MiB slices of a 1 GiB shared 64-bit memory (far beyond the L3 cache), so every byte
 *   comes from DRAM. Decode's limit is this bandwidth ÷ the weight bytes of one token.
 * - **Multiply-add rate** per core: 10 independent chains of `f32x4.relaxed_madd` on
 *   registers, nothing loaded; prefill's matrix products are compared with it.
 *
 * Names follow `bench/metrics.ts` (`ceiling`), so `deno task bench:report` uses the best of
 * them as the run's ceilings.
 *
 * Run: `deno bench -A bench/wasm_ceiling_bench.ts`.
 *
 * @module
 */

import { benchName } from "./metrics.ts";
import { CHAINS, instantiateProbes, probeModule } from "./wasm_probes.ts";
import type { ProbeWorkerStart } from "./helpers/probe_worker.ts";
import { lazy, sink } from "./data.ts";

const MiB = 2 ** 20;
const SLICE = 256 * MiB;
const TOTAL = 1024 * MiB;
const ALL = navigator.hardwareConcurrency;
const FMA_STEPS = 20_000_000;

const setup = lazy(() => {
  const pages = BigInt(TOTAL / 65536);
  const memory = new WebAssembly.Memory({
    initial: pages,
    maximum: pages,
    shared: true,
    address: "i64",
  } as unknown as WebAssembly.MemoryDescriptor);
  new Uint8Array(memory.buffer).fill(1); // every page backed, not the shared zero page
  const module = probeModule();
  return { memory, module, probes: instantiateProbes(module, memory) };
});

let slice = 0;
Deno.bench({
  name: benchName("wasm SIMD read 256 MiB, 1 thread", {
    bytes: SLICE,
    bound: "bytes",
    ceiling: true,
  }),
  group: "wasm ceilings",
  n: 12,
  warmup: 2,
  fn() {
    const offset = (slice++ % (TOTAL / SLICE)) * SLICE;
    sink.value += setup().probes.read(BigInt(offset), BigInt(SLICE));
  },
});

Deno.bench({
  name: benchName(`wasm SIMD multiply-add, ${CHAINS} chains, 1 thread`, {
    flops: FMA_STEPS * CHAINS * 8,
    bound: "flops",
    ceiling: true,
  }),
  group: "wasm ceilings",
  n: 8,
  warmup: 2,
  fn() {
    sink.value += setup().probes.fma(FMA_STEPS);
  },
});

/** `ALL − 1` workers plus this thread, each probing its own share at the same moment. */
const team = lazy(async () => {
  const { memory, module } = setup();
  const control = new SharedArrayBuffer(16), args = new SharedArrayBuffer(24 * ALL);
  const workers: Worker[] = [];
  for (let share = 1; share < ALL; share++) {
    const worker = new Worker(new URL("./helpers/probe_worker.ts", import.meta.url), {
      type: "module",
    });
    const ready = new Promise((resolve) => (worker.onmessage = resolve));
    worker.postMessage({ module, memory, control, args, share } satisfies ProbeWorkerStart);
    await ready;
    workers.push(worker);
  }
  globalThis.addEventListener("unload", () => workers.forEach((w) => w.terminate()));
  const c = new Int32Array(control), a = new Float64Array(args);
  return async (kind: 1 | 2, offset: number, bytes: number) => {
    const per = bytes / ALL;
    for (let s = 0; s < ALL; s++) a.set([offset + s * per, per, FMA_STEPS], 3 * s);
    c[2] = kind;
    Atomics.store(c, 1, ALL - 1);
    Atomics.add(c, 0, 1);
    Atomics.notify(c, 0);
    const { probes } = setup();
    if (kind === 1) probes.read(BigInt(offset), BigInt(per));
    else probes.fma(FMA_STEPS);
    for (;;) {
      const pending = Atomics.load(c, 1);
      if (pending === 0) break;
      const wait = Atomics.waitAsync(c, 1, pending);
      if (wait.async) await wait.value;
    }
  };
});

if (ALL > 1) {
  let k = 0;
  Deno.bench({
    name: benchName(`wasm SIMD read 256 MiB, ${ALL} threads`, {
      bytes: SLICE,
      bound: "bytes",
      extra: { threads: String(ALL) },
    }),
    group: "wasm ceilings",
    n: 12,
    warmup: 2,
    async fn() {
      await (await team())(1, (k++ % (TOTAL / SLICE)) * SLICE, SLICE);
    },
  });
  Deno.bench({
    name: benchName(`wasm SIMD multiply-add, ${CHAINS} chains, ${ALL} threads`, {
      flops: ALL * FMA_STEPS * CHAINS * 8,
      bound: "flops",
      extra: { threads: String(ALL) },
    }),
    group: "wasm ceilings",
    n: 8,
    warmup: 2,
    async fn() {
      await (await team())(2, 0, 0);
    },
  });
}
