/**
 * The kernel module: every WebAssembly kernel of llama-bolts in one module, emitted by our
 * TypeScript at startup and compiled once per process (a few milliseconds). It imports two
 * shared 64-bit memories, `weights` (memory 0: the model's files, see `WeightsMemory`) and
 * `state` (memory 1: activations, KV cache, per-worker scratch, see `RunState`), and exports:
 *
 * | export          | what it computes                                   | emitted by      |
 * | --------------- | -------------------------------------------------- | --------------- |
 * | `matmul_bf16`   | `X (T, n) @ W^T` for bf16 weights (T = 1: decode)  | `matmul.ts`     |
 * | `matmul_f16`    | the same for f16                                   | `matmul.ts`     |
 * | `matmul_f32`    | the same for f32                                   | `matmul.ts`     |
 * | `matmul_q8_0` … | the same for ggml's block types (Q8_0, Q4_0, Q5_0, | `block_matmul.ts` |
 * | `matmul_q6_k`   | Q4_K, Q5_K, Q6_K), activations in 8 bits           |                 |
 * | `attention`     | causal grouped-query attention of one token        | `attention.ts`  |
 * | `swiglu`        | the feed-forward gate `silu(w1 x) · w3 x`          | `silu.ts`       |
 * | `rmsnorm`       | RMSNorm, the residual add before it fused in       | `rmsnorm.ts`    |
 * | `rope`          | RoPE of queries and keys, either pair layout       | `rope.ts`       |
 *
 * `deno task llama kernels --wat` prints the module in the text format.
 *
 * @example
 * ```ts
 * import { compileKernels, kernelModuleText } from "./kernels.ts";
 *
 * const module = compileKernels(); // WebAssembly.Module, cached
 * console.log(kernelModuleText().slice(0, 200));
 * ```
 *
 * @module
 */

import v8 from "node:v8";
import { ModuleBuilder } from "../../wasm/module.ts";
import { f32x4, v128 } from "../../wasm/ops.ts";
import { moduleText } from "../../wasm/text.ts";
import type { BlockStorageType } from "../../tensor/storage.ts";
import { emitAttention } from "./attention.ts";
import { emitSwiGlu } from "./silu.ts";
import { emitRmsNorm } from "./rmsnorm.ts";
import { emitRope } from "./rope.ts";
import { dotAddIsFast, dotAddIsUnsigned } from "./dot_add_probe.ts";
import {
  type BlockActivations,
  type BlockTilePlan,
  DEFAULT_BLOCK_TILES,
  emitBlockMatMul,
} from "./block_matmul.ts";
import { DEFAULT_TILES, emitMatMul, type KernelTarget, type TilePlan } from "./matmul.ts";

/** Pages a 64-bit memory may have: 16 GiB, V8's limit. */
const MAX_PAGES = 262144;

/** Options of the kernel module. */
export interface KernelOptions {
  /** Use relaxed SIMD's fused multiply-add (default: when the runtime validates it). */
  readonly fma?: boolean;
  /**
   * Use relaxed SIMD's 8-bit dot product with accumulation where it is one instruction
   * (default: with `fma`, where it is `vpdpbusd` or faster, as `dotAddIsUnsigned` and
   * `dotAddIsFast` in `dot_add_probe.ts` find: processors with AVX-VNNI).
   */
  readonly dotAdd?: boolean;
  /**
   * Take that dot product's reading of bytes as unsigned (`vpdpbusd`): Q8_0's weights biased by
   * 128, interleaved Q4_0 and Q8_0 prefill tiles, Q4_K decode with unshifted high nibbles
   * (default: where `dotAddIsUnsigned` finds it so; `false` keeps the other forms, for tests
   * and measurements).
   */
  readonly unsignedDotAdd?: boolean;
  /** Tile sizes of the float matrix kernels, for every type (default: each type's own). */
  readonly tiles?: TilePlan;
  /** Tile sizes of the block-type kernels, for every type (default: each type's own). */
  readonly blockTiles?: BlockTilePlan;
  /** Activations of the Q8_0 and Q4_0 kernels (default `q8`; `f32` for measurements). */
  readonly blockActivations?: BlockActivations;
  /** The block types to emit kernels for (default: all; a bf16 model needs none). */
  readonly blockTypes?: readonly BlockStorageType[];
}

/** Every block type, in the order the module lists their kernels. */
const BLOCK_TYPES: readonly BlockStorageType[] = ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];

let relaxed: boolean | undefined;

/** Whether this runtime validates relaxed SIMD (`f32x4.relaxed_madd`). */
export function relaxedSimdAvailable(): boolean {
  if (relaxed === undefined) {
    const m = new ModuleBuilder();
    m.func("probe", {}, "v128", (f) => {
      const one = v128.f32x4(1);
      f.return(f32x4.relaxedMadd(one, one, one));
    });
    relaxed = WebAssembly.validate(m.encode());
  }
  return relaxed;
}

/**
 * Whether a module built with `options` uses the 8-bit dot product with accumulation.
 *
 * @param options The module's options.
 * @returns `options.dotAdd`, or its default.
 */
export function dotAddOf(options: KernelOptions): boolean {
  // Where the instruction is `vpdpbusd` (`dotAddIsUnsigned`), it is used without timing: the
  // probe's short chains of it waited on its latency on a Zen 5 and chose the other form in
  // most processes, but the kernels run faster with it there (one thread: Q4_0 decode +9%,
  // Q5_0 +8%, Q5_K +7%, Q5_0 prefill +16%; Q4_K level).
  return options.dotAdd ??
    ((options.fma ?? relaxedSimdAvailable()) && (dotAddIsUnsigned() || dotAddIsFast()));
}

/**
 * Whether a module built with `options` uses the unsigned reading of the 8-bit dot product.
 *
 * @param options The module's options.
 * @returns `options.unsignedDotAdd`, or by default whether relaxed SIMD validates and its dot
 *   product reads bytes as unsigned.
 */
export function unsignedDotAddOf(options: KernelOptions): boolean {
  return options.unsignedDotAdd ??
    ((options.fma ?? relaxedSimdAvailable()) && dotAddIsUnsigned());
}

/**
 * Builds the kernel module (not yet encoded).
 *
 * @param options FMA and tile sizes.
 * @returns The module builder (encode it, or print it with `moduleText`).
 */
export function buildKernelModule(options: KernelOptions = {}): ModuleBuilder {
  const m = new ModuleBuilder();
  const memory = { address: "i64", shared: true, minimum: 1, maximum: MAX_PAGES } as const;
  const target: KernelTarget = {
    weights: m.importMemory("weights", memory),
    state: m.importMemory("state", memory),
    fma: options.fma ?? relaxedSimdAvailable(),
    dotAdd: dotAddOf(options),
    unsignedDotAdd: unsignedDotAddOf(options),
  };
  for (const type of ["bf16", "f16", "f32"] as const) {
    emitMatMul(m, target, type, options.tiles ?? DEFAULT_TILES[type]);
  }
  const wanted = new Set(options.blockTypes ?? BLOCK_TYPES);
  for (const type of BLOCK_TYPES.filter((t) => wanted.has(t))) {
    emitBlockMatMul(
      m,
      target,
      type,
      options.blockTiles ?? DEFAULT_BLOCK_TILES[type],
      options.blockActivations,
    );
  }
  emitAttention(m, target);
  emitSwiGlu(m, target);
  emitRmsNorm(m, target);
  emitRope(m, target);
  return m;
}

const compiled = new Map<string, WebAssembly.Module>();

/**
 * The compiled kernel module, once per process and options.
 *
 * @param options FMA and tile sizes.
 * @returns The module, to instantiate with `{ env: { weights, state } }` (or post to workers).
 */
export function compileKernels(options: KernelOptions = {}): WebAssembly.Module {
  const key = JSON.stringify({
    fma: options.fma ?? relaxedSimdAvailable(),
    dotAdd: dotAddOf(options),
    unsignedDotAdd: unsignedDotAddOf(options),
    tiles: options.tiles,
    blockTiles: options.blockTiles,
    blockActivations: options.blockActivations,
    blockTypes: options.blockTypes === undefined ? undefined : [...options.blockTypes].sort(),
  });
  let module = compiled.get(key);
  if (module === undefined) {
    // V8 starts every function in its baseline compiler and optimizes it once it has run
    // enough; but a kernel call can run for 100 ms, and WebAssembly has no on-stack
    // replacement, so the first prefill ran at half speed until each thread's calls had
    // tiered up (measured: 145 ms → 70 ms for a 64-token 4096×4096 product on two threads).
    // Compiling every function optimized up front costs ~60 ms once per process.
    v8.setFlagsFromString("--no-wasm-dynamic-tiering");
    module = new WebAssembly.Module(buildKernelModule(options).encode());
    compiled.set(key, module);
  }
  return module;
}

/**
 * The kernel module in the WebAssembly text format.
 *
 * @param options FMA and tile sizes.
 * @returns The text.
 */
export function kernelModuleText(options: KernelOptions = {}): string {
  return moduleText(buildKernelModule(options));
}
