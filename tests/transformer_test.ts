/**
 * Properties of the forward pass that do not need a reference: results independent of the
 * number of workers and of how a prompt is batched (bit for bit), context and token checks,
 * progress callbacks, cancellation and clean shutdown.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ContextError, TokenizerError, UsageError } from "../lib/errors.ts";
import { loadCheckpoint } from "../lib/model/checkpoint.ts";
import { Transformer } from "../lib/model/transformer.ts";
import { RunState } from "../lib/model/run_state.ts";
import { Pool } from "../lib/parallel/pool.ts";
import {
  encodeSteps,
  matMul,
  rowChunks,
  STEP_WORKER_URL,
  stepRunner,
  type StepsInit,
} from "../lib/kernels/steps.ts";
import { assertBitwiseEqual } from "./helpers/bitwise.ts";
import { loadGoldenCase } from "./helpers/golden.ts";

/** Prefill of a prompt, then two decode steps; every step's logits, copied. */
async function run(model: Transformer, prompt: number[], next: number[]): Promise<Float32Array[]> {
  const rows = [(await model.forward(prompt, 0)).slice()];
  for (let i = 0; i < next.length; i++) {
    rows.push((await model.forward([next[i]], prompt.length + i)).slice());
  }
  return rows;
}

const BACKENDS = ["wasm", "ts"] as const;

Deno.test("1, 2, 3 and 4 threads give bit-identical logits, on both backends", async () => {
  for (const kernels of BACKENDS) {
    for (const name of ["gqa_scaled", "llama3_unscaled"]) {
      const golden = loadGoldenCase(name);
      using checkpoint = loadCheckpoint(golden.dir);
      const prompt = golden.promptIds.slice(0, 150), next = golden.greedyIds.slice(0, 2);
      let reference: Float32Array[] | null = null;
      for (const threads of [1, 2, 3, 4]) {
        using model = await Transformer.create(checkpoint, {
          threads,
          contextLength: 256,
          kernels,
        });
        assert.equal(model.threads, threads);
        assert.equal(model.kernels, kernels);
        const rows = await run(model, prompt, next);
        if (reference === null) reference = rows;
        else {
          rows.forEach((row, i) => assertBitwiseEqual(row, reference![i], `${name} ${threads}`));
        }
      }
    }
  }
});

Deno.test("claimed chunks cover every row once; prefill chunks shrink to the end", () => {
  for (const rows of [8, 20, 512, 2048, 8192, 128256]) {
    for (const shares of [1, 2, 3, 8]) {
      for (const tokens of [1, 128]) {
        const bounds = rowChunks(rows, tokens, shares);
        const where = `${rows} rows, ${shares} shares, ${tokens} tokens`;
        assert.equal(bounds[0], 0, where);
        assert.equal(bounds.at(-1), rows, where);
        for (let c = 1; c < bounds.length; c++) {
          assert.ok(bounds[c] > bounds[c - 1], `${where}: chunk ${c - 1} is empty`);
          if (c < bounds.length - 1) assert.equal(bounds[c] % 8, 0, `${where}: bound ${c}`);
        }
      }
    }
  }
  // 2048 rows, 2 threads: the first prefill chunk is a quarter, the last 16 rows.
  const prefill = rowChunks(2048, 128, 2);
  assert.equal(prefill[1], 512);
  assert.equal(prefill.at(-1)! - prefill.at(-2)!, 16);
  // Decode: 16 equal chunks.
  assert.deepEqual(rowChunks(2048, 1, 2), Array.from({ length: 17 }, (_, i) => 128 * i));
});

Deno.test("workers also share a checkpoint copied into memory instead of mapped", async () => {
  const golden = loadGoldenCase("llama3_unscaled");
  const prompt = golden.promptIds.slice(0, 50), next = golden.greedyIds.slice(0, 2);
  const rows: Float32Array[][] = [];
  for (const preferMmap of [true, false]) {
    using checkpoint = loadCheckpoint(golden.dir, { preferMmap });
    assert.equal(checkpoint.weights.mapped, preferMmap);
    using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 64 });
    rows.push(await run(model, prompt, next));
  }
  rows[0].forEach((row, i) => assertBitwiseEqual(row, rows[1][i], `step ${i}`));
});

for (const kernels of BACKENDS) {
  Deno.test(`batched prefill equals token-by-token prefill, bit for bit (${kernels})`, async () => {
    const golden = loadGoldenCase("tied");
    using checkpoint = loadCheckpoint(golden.dir);
    const prompt = golden.promptIds.slice(0, 40);
    using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 64, kernels });
    const batched = (await model.forward(prompt, 0)).slice();
    let oneByOne: Float32Array = new Float32Array();
    for (let i = 0; i < prompt.length; i++) oneByOne = await model.forward([prompt[i]], i);
    assertBitwiseEqual(batched, oneByOne, "last prompt position");

    // Chunks of 7 (maxBatch) and a prompt split in two calls give the same again.
    using chunked = await Transformer.create(checkpoint, {
      threads: 1,
      contextLength: 64,
      maxBatch: 7,
      kernels,
    });
    assertBitwiseEqual((await chunked.forward(prompt, 0)).slice(), batched, "maxBatch 7");
    await chunked.forward(prompt.slice(0, 13), 0);
    assertBitwiseEqual(await chunked.forward(prompt.slice(13), 13), batched, "two calls");
  });
}

Deno.test("the two backends agree within float32 rounding on every logit", async () => {
  const golden = loadGoldenCase("gqa_scaled");
  using checkpoint = loadCheckpoint(golden.dir);
  const prompt = golden.promptIds.slice(0, 100), next = golden.greedyIds.slice(0, 3);
  const rows: Float32Array[][] = [];
  for (const kernels of BACKENDS) {
    using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 128, kernels });
    rows.push(await run(model, prompt, next));
  }
  rows[0].forEach((row, i) => {
    let worst = 0;
    for (let j = 0; j < row.length; j++) worst = Math.max(worst, Math.abs(row[j] - rows[1][i][j]));
    assert.ok(worst < 1e-4, `step ${i}: max |wasm - ts| = ${worst}`);
  });
});

Deno.test("forwardAll's last row is forward's logits", async () => {
  const golden = loadGoldenCase("tied");
  using checkpoint = loadCheckpoint(golden.dir);
  using model = await Transformer.create(checkpoint, { threads: 0, contextLength: 32 });
  const prompt = golden.promptIds.slice(0, 20);
  const all = await model.forwardAll(prompt, 0);
  const last = (await model.forward(prompt, 0)).slice();
  const vocab = checkpoint.config.vocabSize;
  assert.equal(all.length, prompt.length * vocab);
  assertBitwiseEqual(all.subarray(19 * vocab), last, "last row");
});

Deno.test("context length: default, maximum, and tokens that do not fit", async () => {
  const golden = loadGoldenCase("llama3_unscaled"); // Llama 3.0 style: 8192 positions at most
  using checkpoint = loadCheckpoint(golden.dir);
  assert.equal(checkpoint.config.maxContext, 8192);
  await assert.rejects(
    Transformer.create(checkpoint, { contextLength: 8193, threads: 1 }),
    (error: Error) => error instanceof ContextError && /at most 8192/.test(error.message),
  );
  await assert.rejects(Transformer.create(checkpoint, { contextLength: 0 }), ContextError);
  await assert.rejects(Transformer.create(checkpoint, { threads: -1 }), UsageError);
  {
    using model = await Transformer.create(checkpoint, { threads: 0 });
    assert.equal(model.contextLength, 8192);
  }
  using model = await Transformer.create(checkpoint, { threads: 0, contextLength: 10 });
  await assert.rejects(
    model.forward([1, 2, 3], 8),
    (error: Error) => error instanceof ContextError && /at most 10 positions/.test(error.message),
  );
  await assert.rejects(model.forward([1, 320], 0), TokenizerError);
  await assert.rejects(model.forward([-1], 0), TokenizerError);
  await assert.rejects(model.forward([], 0), UsageError);
  await model.forward([1, 2, 3], 7); // exactly fills the context
});

Deno.test("onLayer reports every layer then the classifier; abort stops between layers", async () => {
  const golden = loadGoldenCase("llama3_unscaled");
  using checkpoint = loadCheckpoint(golden.dir);
  using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 16 });
  const seen: string[] = [];
  await model.forward([1, 2], 0, { onLayer: (layer, n) => seen.push(`${layer}/${n}`) });
  assert.deepEqual(seen, ["0/3", "1/3", "2/3", "3/3"]);

  const controller = new AbortController();
  const layers: number[] = [];
  await assert.rejects(
    model.forward([1, 2], 0, {
      signal: controller.signal,
      onLayer: (layer) => {
        layers.push(layer);
        if (layer === 1) controller.abort();
      },
    }),
    (error: Error) => error.name === "AbortError",
  );
  assert.deepEqual(layers, [0, 1]);
  // The model is usable again after an aborted pass.
  await model.forward([1, 2], 0);
});

Deno.test("close() stops the workers, is idempotent, and later use is an error", async () => {
  const golden = loadGoldenCase("tied");
  using checkpoint = loadCheckpoint(golden.dir);
  const model = await Transformer.create(checkpoint, { threads: 2, contextLength: 16 });
  await model.forward([1], 0);
  model.close();
  model.close();
  await assert.rejects(model.forward([1], 0), UsageError);
});

Deno.test("close() during a forward pass returns within 1 s and the pass rejects", async () => {
  const golden = loadGoldenCase("gqa_scaled");
  using checkpoint = loadCheckpoint(golden.dir);
  for (const threads of [2, 3]) {
    const model = await Transformer.create(checkpoint, { threads, contextLength: 512 });
    const running = model.forward(golden.promptIds, 0);
    const started = performance.now();
    model.close();
    const took = performance.now() - started;
    assert.ok(took < 1000, `close() took ${took.toFixed(0)} ms`);
    await assert.rejects(running, /closed/);
  }
});

Deno.test("worker pool: a failing job rejects with the worker's error, then works on", async () => {
  // One matrix product: out (3,) = W (3, 2) @ x, W in f32 at byte 0 of the weights memory.
  const weights = new WebAssembly.Memory({
    initial: 1n,
    maximum: 1n,
    shared: true,
    address: "i64",
  } as unknown as WebAssembly.MemoryDescriptor);
  new Float32Array(weights.buffer, 0, 6).set([1, 2, 3, 4, 5, 6]);
  const state = RunState.allocate({
    dim: 2,
    kvDim: 2,
    hiddenDim: 3,
    nLayers: 0,
    nHeads: 1,
    vocabSize: 3,
    contextLength: 1,
    maxBatch: 1,
    threads: 2,
  });
  state.xb.view.set([1, -1]);
  for (const backend of BACKENDS) {
    const init: StepsInit = {
      backend,
      weights,
      state: state.memory,
      scratch: state.scratch,
      maxScores: 1,
      maxCols: 3,
    };
    using pool = await Pool.start({
      threads: 2,
      runner: stepRunner(init, 0),
      workerUrl: STEP_WORKER_URL,
      init,
    });
    await assert.rejects(pool.run([99]), /unknown step kind 99/);
    const w = { type: "f32", byteOffset: 0, rows: 3, cols: 2 } as const;
    await pool.run(encodeSteps([matMul(state.logits, state.xb, w, 1)]));
    assert.deepEqual(Array.from(state.logits.view), [-1, -1, -1]);
  }
  const broken: StepsInit = {
    backend: "wasm",
    weights,
    state: state.memory,
    module: {} as WebAssembly.Module, // not a module: the worker cannot build its kernels
    scratch: state.scratch,
    maxScores: 1,
    maxCols: 3,
  };
  await assert.rejects(
    Pool.start({ threads: 2, runner: () => {}, workerUrl: STEP_WORKER_URL, init: broken }),
    /failed to start/,
  );
});

Deno.test("one forward pass at a time", async () => {
  const golden = loadGoldenCase("tied");
  using checkpoint = loadCheckpoint(golden.dir);
  using model = await Transformer.create(checkpoint, { threads: 1, contextLength: 16 });
  const first = model.forward([1, 2, 3], 0);
  await assert.rejects(model.forward([4], 3), UsageError);
  await first;
});

/** Runs `source` in a new Deno process; `onOutput` sees stdout as it arrives. */
async function runDeno(
  source: string,
  onOutput: (text: string, child: Deno.ChildProcess) => void = () => {},
): Promise<{ code: number; signal: Deno.Signal | null; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", source],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000), // a hang fails the test instead of blocking it
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let stdout = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    stdout += chunk;
    onOutput(stdout, child);
  }
  const status = await child.status;
  return { code: status.code, signal: status.signal, stdout, stderr: await stderr };
}

const imports = (dir: string) => `
  import { loadCheckpoint } from "${new URL("../lib/model/checkpoint.ts", import.meta.url)}";
  import { Transformer } from "${new URL("../lib/model/transformer.ts", import.meta.url)}";
  import { Session } from "${new URL("../lib/generate/session.ts", import.meta.url)}";
  import { generate } from "${new URL("../lib/generate/generate.ts", import.meta.url)}";
  using checkpoint = loadCheckpoint(${JSON.stringify(dir)});
`;

Deno.test("no hang: an exception while workers run ends the process", async () => {
  const { dir } = loadGoldenCase("tied");
  const result = await runDeno(`${imports(dir)}
    using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 16 });
    await model.forward([1, 2], 0);
    throw new Error("boom");
  `);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /boom/);
});

Deno.test("no hang: Ctrl+C aborts a long generation and the process exits", async () => {
  const { dir } = loadGoldenCase("tied");
  let sent = false;
  const result = await runDeno(
    `${imports(dir)}
    const controller = new AbortController();
    const onInterrupt = () => controller.abort();
    Deno.addSignalListener("SIGINT", onInterrupt);
    using model = await Transformer.create(checkpoint, { threads: 2, contextLength: 60000 });
    const generation = generate(new Session(model), [1, 2, 3], {
      signal: controller.signal,
      stopTokens: [],
    });
    for await (const token of generation) if (token.index === 0) console.log("started");
    console.log("stopped:", generation.stopReason, generation.ids.length);
    Deno.removeSignalListener("SIGINT", onInterrupt);
    // "using" closes the model (its workers) here, and the process ends by itself.
  `,
    (stdout, child) => {
      if (!sent && stdout.includes("started")) {
        sent = true;
        child.kill("SIGINT");
      }
    },
  );
  assert.ok(sent);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /stopped: aborted \d+/);
});

Deno.test("no hang: Ctrl+C without a listener ends the process while workers compute", async () => {
  const { dir } = loadGoldenCase("tied");
  let sent = false;
  const result = await runDeno(
    `${imports(dir)}
    const model = await Transformer.create(checkpoint, { threads: 2, contextLength: 60000 });
    const generation = generate(new Session(model), [1, 2, 3], { stopTokens: [] });
    for await (const token of generation) if (token.index === 0) console.log("started");
  `,
    (stdout, child) => {
      if (!sent && stdout.includes("started")) {
        sent = true;
        child.kill("SIGINT");
      }
    },
  );
  assert.ok(sent);
  assert.equal(result.signal, "SIGINT");
});
