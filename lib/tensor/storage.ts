/**
 * How weights are stored: one row per storage type, in the spirit of ggml's type traits and of
 * llama3.java's `FloatTensor`. The model never asks which type a weight has; it names the
 * weight, and the kernels of each backend (`lib/kernels/`) are looked up in tables keyed by
 * {@linkcode StorageType}, so a type without kernels is a compile-time error, not a surprise in
 * a worker.
 *
 * Types are stored in **blocks**: `blockElements` consecutive elements of a row take
 * `blockBytes` bytes. Plain floats are blocks of one element; ggml's quantized types (read from
 * GGUF files; their bit layouts are in `lib/kernels/quant/`) pack 32 or 256 weights with their
 * scales. A row's length must be a whole number of blocks,
 * and every byte size comes from {@linkcode storageBytes}, never from `elements × size`.
 *
 * @example
 * ```ts
 * import { storageBytes, STORAGE } from "./storage.ts";
 *
 * storageBytes("bf16", 4096); // 8192
 * storageBytes("q4_0", 4096); // 2304: 128 blocks of 18 bytes
 * STORAGE.f32.blockBytes; // 4
 * ```
 *
 * @module
 */

/** A weight storage type. */
export type StorageType = FloatStorageType | BlockStorageType;

/** The types whose elements are plain floats, one per 2 or 4 bytes (what torch saves). */
export type FloatStorageType = "f32" | "f16" | "bf16";

/**
 * ggml's quantized block types, as GGUF files hold them (names lowercased): 32 weights with one
 * float16 scale (`q8_0`, `q4_0`, `q5_0`), or 256-weight super-blocks of 8 or 16 sub-blocks whose
 * scales are themselves quantized (the "K-quants" `q4_k`, `q5_k`, `q6_k`).
 */
export type BlockStorageType = "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q5_k" | "q6_k";

/** What a storage type is, as laid out in memory. */
export interface StorageInfo {
  /** The type's name, as `info` prints it. */
  readonly name: StorageType;
  /** One line for readers and `info`. */
  readonly description: string;
  /** Consecutive elements of a row stored together. */
  readonly blockElements: number;
  /** Bytes of one block. */
  readonly blockBytes: number;
}

/** Every storage type, by name. */
export const STORAGE: { readonly [T in StorageType]: StorageInfo } = {
  f32: {
    name: "f32",
    description: "IEEE 754 single precision: sign, 8 exponent bits, 23 mantissa bits",
    blockElements: 1,
    blockBytes: 4,
  },
  f16: {
    name: "f16",
    description: "IEEE 754 half precision: sign, 5 exponent bits, 10 mantissa bits",
    blockElements: 1,
    blockBytes: 2,
  },
  bf16: {
    name: "bf16",
    description: "bfloat16: the top 16 bits of a float32 (sign, 8 exponent bits, 7 mantissa bits)",
    blockElements: 1,
    blockBytes: 2,
  },
  q8_0: {
    name: "q8_0",
    description: "ggml Q8_0: blocks of 32 int8 weights times one float16 scale d (34 bytes)",
    blockElements: 32,
    blockBytes: 34,
  },
  q4_0: {
    name: "q4_0",
    description: "ggml Q4_0: blocks of 32 4-bit weights (q − 8) · d, one float16 d (18 bytes)",
    blockElements: 32,
    blockBytes: 18,
  },
  q5_0: {
    name: "q5_0",
    description: "ggml Q5_0: blocks of 32 5-bit weights (q − 16) · d, one float16 d (22 bytes)",
    blockElements: 32,
    blockBytes: 22,
  },
  q4_k: {
    name: "q4_k",
    description:
      "ggml Q4_K: 256 4-bit weights in 8 sub-blocks, d · sc · q − dmin · m with 6-bit sc, m (144 bytes)",
    blockElements: 256,
    blockBytes: 144,
  },
  q5_k: {
    name: "q5_k",
    description:
      "ggml Q5_K: 256 5-bit weights in 8 sub-blocks, d · sc · q − dmin · m with 6-bit sc, m (176 bytes)",
    blockElements: 256,
    blockBytes: 176,
  },
  q6_k: {
    name: "q6_k",
    description:
      "ggml Q6_K: 256 6-bit weights in 16 sub-blocks, d · sc · (q − 32) with int8 sc (210 bytes)",
    blockElements: 256,
    blockBytes: 210,
  },
};

/** Every storage type in the table's order: the index a job sent to the workers carries. */
export const STORAGE_TYPES: readonly StorageType[] = Object.keys(STORAGE) as StorageType[];

/**
 * Whether `type` is one of ggml's block types (rather than plain floats).
 *
 * @param type A storage type.
 * @returns `true` for `q8_0` … `q6_k`.
 */
export function isBlockType(type: StorageType): type is BlockStorageType {
  return STORAGE[type].blockElements > 1;
}

/**
 * Bytes taken by `elements` consecutive elements of a row of type `type`.
 *
 * @param type The storage type.
 * @param elements A whole number of the type's blocks.
 * @returns The byte length.
 * @throws {RangeError} When `elements` is not a whole number of blocks.
 */
export function storageBytes(type: StorageType, elements: number): number {
  const { blockElements, blockBytes } = STORAGE[type];
  if (!Number.isSafeInteger(elements) || elements < 0 || elements % blockElements !== 0) {
    throw new RangeError(
      `expected a whole number of ${type} blocks of ${blockElements} elements, found ${elements}`,
    );
  }
  return (elements / blockElements) * blockBytes;
}

/**
 * Average bits per weight of a type, scales included (bf16: 16; Q8_0: 8.5).
 *
 * @param type The storage type.
 * @returns Bits per element.
 */
export function bitsPerWeight(type: StorageType): number {
  const { blockElements, blockBytes } = STORAGE[type];
  return (blockBytes * 8) / blockElements;
}

/**
 * Whether `name` is a storage type (for input read from files and flags).
 *
 * @param name A candidate.
 * @returns `true` when it names a row of {@linkcode STORAGE}.
 */
export function isStorageType(name: string): name is StorageType {
  return Object.hasOwn(STORAGE, name);
}
