/**
 * The WebAssembly backend: the kernel module of `kernels.ts` instantiated over this thread's
 * view of the weights and state memories (the same memories on every thread: nothing is copied
 * per worker). Each storage type plugs in through {@linkcode WASM_MATRIX_KERNELS}: the name of
 * its exported kernel. Shapes the SIMD kernels do not cover (attention heads not a multiple of
 * 8 wide) run on the TypeScript backend.
 *
 * @example
 * ```ts
 * import { createWasmBackend } from "./backend.ts";
 * import type { BackendInit } from "../backend.ts";
 *
 * declare const init: BackendInit;
 * const backend = createWasmBackend(init);
 * ```
 *
 * @module
 */

import type { StorageType } from "../../tensor/storage.ts";
import { isBlockType, storageBytes } from "../../tensor/storage.ts";
import type { BackendInit, KernelBackend } from "../backend.ts";
import { createTsBackend } from "../ts_backend.ts";
import { BLOCK_FORMATS } from "./block_formats.ts";
import { DecodeRowsPicker } from "./decode_rows.ts";
import { compileKernels } from "./kernels.ts";

/** The kernel module's export for each storage type's matrix product. */
export const WASM_MATRIX_KERNELS: { readonly [T in StorageType]: string } = {
  f32: "matmul_f32",
  f16: "matmul_f16",
  bf16: "matmul_bf16",
  q8_0: "matmul_q8_0",
  q4_0: "matmul_q4_0",
  q5_0: "matmul_q5_0",
  q4_k: "matmul_q4_k",
  q5_k: "matmul_q5_k",
  q6_k: "matmul_q6_k",
};

/**
 * What a type's kernel leaves in the scratch from X: the block types' activation records (types
 * with the same record form share them), or the float types' packed X (one per type).
 */
function inputForm(type: StorageType): string {
  return isBlockType(type) ? BLOCK_FORMATS[type].activations : type;
}

type MatMulExport = (
  w: bigint,
  rowBytes: number,
  cols: number,
  x: bigint,
  out: bigint,
  outStride: number,
  tokens: number,
  rowStart: number,
  rowEnd: number,
  scratch: bigint,
  xReady: number,
  oneRow: number, // block types only (the float kernels ignore it)
) => void;

type AttentionExport = (
  q: bigint,
  out: bigint,
  keys: bigint,
  values: bigint,
  rowStride: number,
  headDim: number,
  kvHeads: number,
  kvGroup: number,
  positions: number,
  scores: bigint,
) => void;

type SwiGluExport = (gate: bigint, up: bigint, rowBytes: bigint, tokens: number, n: number) => void;

type RopeExport = (
  v: bigint,
  rowBytes: bigint,
  heads: number,
  headDim: number,
  tokens: number,
  position: number,
  cos: bigint,
  sin: bigint,
  halves: number,
) => void;

type RmsNormExport = (
  x: bigint,
  residual: bigint,
  add: number,
  out: bigint,
  weight: bigint,
  n: number,
  tokens: number,
  eps: number,
) => void;

/**
 * Builds the WebAssembly backend for one thread.
 *
 * @param init The memories, the compiled module (compiled here when absent) and this thread's
 *   scratch.
 * @returns The backend.
 */
export function createWasmBackend(init: BackendInit): KernelBackend {
  const module = init.module ?? compileKernels();
  const instance = new WebAssembly.Instance(module, {
    env: { weights: init.weights, state: init.state },
  });
  const exports = instance.exports as Record<string, unknown>;
  const matMuls = Object.fromEntries(
    Object.entries(WASM_MATRIX_KERNELS).map((
      [type, name],
    ) => [type, exports[name] as MatMulExport | undefined]),
  ) as Record<StorageType, MatMulExport | undefined>;
  const attention = exports.attention as AttentionExport;
  const swiGlu = exports.swiglu as SwiGluExport;
  const rmsNorm = exports.rmsnorm as RmsNormExport;
  const rope = exports.rope as RopeExport;
  const scratch = BigInt(init.scratch.byteOffset);
  const fallback = createTsBackend(init);
  // Which input the scratch holds, quantized or packed, within the current job: the products
  // of one job that read the same X (every chunk of rows, w1 and w3) prepare it once. Only
  // once jobs are announced (`newJob`): a caller that never does gets X prepared every call.
  let held = "", jobs = false;
  // Per block type, the decode tile this thread runs: timed on the first calls unless given.
  const pickers = new Map<StorageType, DecodeRowsPicker>();
  const oneRowFor = (type: StorageType): boolean | DecodeRowsPicker => {
    if (init.oneRowDecode !== undefined) return init.oneRowDecode;
    let picker = pickers.get(type);
    if (picker === undefined) pickers.set(type, picker = new DecodeRowsPicker());
    return picker.choice ?? picker;
  };

  return {
    name: "wasm",
    matMul(w, x, out, outStride, tokens, rowStart, rowEnd) {
      if (rowStart >= rowEnd) return;
      const kernel = matMuls[w.type];
      if (kernel === undefined) {
        // A module emitted without this block type's kernel (KernelOptions.blockTypes).
        fallback.matMul(w, x, out, outStride, tokens, rowStart, rowEnd);
        return;
      }
      if (tokens * w.cols * 4 > init.scratch.byteLength) {
        throw new RangeError(`matMul: ${tokens} tokens × ${w.cols} columns exceed the scratch`);
      }
      const input = `${inputForm(w.type)} ${x} ${w.cols} ${tokens}`;
      const ready = jobs && input === held ? 1 : 0;
      held = input;
      const rowBytes = storageBytes(w.type, w.cols);
      const run = (oneRow: boolean) =>
        kernel(
          BigInt(w.byteOffset),
          rowBytes,
          w.cols,
          BigInt(x),
          BigInt(out),
          outStride,
          tokens,
          rowStart,
          rowEnd,
          scratch,
          ready,
          oneRow ? 1 : 0,
        );
      const form = tokens === 1 && isBlockType(w.type) ? oneRowFor(w.type) : false;
      if (typeof form === "boolean") return run(form);
      const oneRow = form.next(), started = performance.now();
      run(oneRow);
      form.measured(oneRow, performance.now() - started, (rowEnd - rowStart) * rowBytes);
    },
    newJob() {
      jobs = true;
      held = "";
    },
    swiGlu(gate, up, rowFloats, tokens, start, end) {
      // Four floats at a time in WebAssembly; a remainder of 1–3 per row in TypeScript.
      const vectors = (end - start) & ~3;
      if (vectors > 0) {
        swiGlu(
          BigInt(gate + 4 * start),
          BigInt(up + 4 * start),
          BigInt(4 * rowFloats),
          tokens,
          vectors,
        );
      }
      if (start + vectors < end) fallback.swiGlu(gate, up, rowFloats, tokens, start + vectors, end);
    },
    rmsNorm(x, residual, out, weight, n, tokens, eps) {
      if (n % 4 !== 0) {
        fallback.rmsNorm(x, residual, out, weight, n, tokens, eps);
        return;
      }
      const add = residual === undefined ? 0 : 1;
      rmsNorm(BigInt(x), BigInt(residual ?? 0), add, BigInt(out), BigInt(weight), n, tokens, eps);
    },
    rope(v, rowFloats, heads, headDim, tokens, position, cos, sin, halves) {
      if (headDim % 8 !== 0) {
        fallback.rope(v, rowFloats, heads, headDim, tokens, position, cos, sin, halves);
        return;
      }
      const rowBytes = BigInt(4 * rowFloats);
      rope(
        BigInt(v),
        rowBytes,
        heads,
        headDim,
        tokens,
        position,
        BigInt(cos),
        BigInt(sin),
        halves ? 1 : 0,
      );
    },
    attention(q, out, keys, values, rowFloats, headDim, kvHeads, kvGroup, positions) {
      held = ""; // the scores go to the scratch
      if (headDim % 8 !== 0) {
        fallback.attention(q, out, keys, values, rowFloats, headDim, kvHeads, kvGroup, positions);
        return;
      }
      attention(
        BigInt(q),
        BigInt(out),
        BigInt(keys),
        BigInt(values),
        rowFloats * 4,
        headDim,
        kvHeads,
        kvGroup,
        positions,
        scratch,
      );
    },
  };
}
