/**
 * The element types llama-bolts reads weights in, and their sizes.
 *
 * Weights stay in their stored type; kernels convert each element to float32
 * as they read it. bf16 and f16 elements are viewed as `Uint16Array`, f32 as
 * `Float32Array`.
 *
 * @module
 */

/** A weight element type: bfloat16, IEEE half, IEEE single. */
export type DType = "bf16" | "f16" | "f32";

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { bf16: 2, f16: 2, f32: 4 };

/** The typed array a tensor of each dtype is viewed as. */
export type DTypeArray = Uint16Array | Float32Array;
