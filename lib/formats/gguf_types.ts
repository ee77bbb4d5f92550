/**
 * The vocabulary of the GGUF format (llama.cpp's model files), shared by its reader and writer:
 * the magic and versions, the metadata value types, and ggml's tensor types with their block
 * layouts.
 *
 * A GGUF file is: the magic `GGUF`, a version (2 or 3; 1 used 32-bit counts and is not read),
 * the tensor and metadata counts (u64), the metadata as key/value pairs, one info per tensor
 * (name, dimensions innermost first, type, offset), padding to `general.alignment` (default
 * 32), then the data section, each tensor at an aligned offset from its start. All numbers are
 * little-endian.
 *
 * {@linkcode GGML_TYPES} is one row per ggml tensor type. A row's `storage` names the
 * {@linkcode StorageType} the engine runs it as; a type without one is recognised (named in
 * messages, sized in `info`) but not run yet. Supporting a new type is giving its row a
 * `storage`.
 *
 * @example
 * ```ts
 * import { ggmlType, ggmlTypeById } from "./gguf_types.ts";
 *
 * ggmlType("Q8_0").blockBytes; // 34: a float16 scale and 32 int8 weights
 * ggmlTypeById(30)?.name; // "BF16"
 * ```
 *
 * @module
 */

import type { StorageType } from "../tensor/storage.ts";

/** `GGUF` read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;

/** The version this project writes. */
export const GGUF_VERSION = 3;

/** Versions the reader accepts (2 and 3 share one layout; 3 only allows big-endian files). */
export const GGUF_READ_VERSIONS: readonly number[] = [2, 3];

/** Alignment of the data section and of each tensor when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types, by their id in the file. */
export const GGUF_VALUE_TYPES = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

/** A metadata value type's name. */
export type GgufValueType = keyof typeof GGUF_VALUE_TYPES;

/** The types an array may hold (GGUF allows arrays of arrays; llama.cpp's files never use them). */
export type GgufScalarType = Exclude<GgufValueType, "array">;

/** A scalar metadata value with its GGUF type. */
export interface GgufScalar {
  readonly type: GgufScalarType;
  readonly value: number | bigint | boolean | string;
}

/** An array metadata value: items of one scalar type. */
export interface GgufArray {
  readonly type: "array";
  readonly itemType: GgufScalarType;
  readonly value: ArrayLike<number | bigint | boolean | string>;
}

/** A metadata value with its GGUF type. */
export type GgufValue = GgufScalar | GgufArray;

/** One ggml tensor type. */
export interface GgmlTypeInfo {
  /** Its id in tensor infos. */
  readonly id: number;
  /** ggml's name, e.g. `Q4_K`. */
  readonly name: string;
  /** Elements per block (1 for plain numbers, 32 or 256 for quantized types). */
  readonly blockElements: number;
  /** Bytes per block. */
  readonly blockBytes: number;
  /** The storage type the engine runs it as; absent: not supported yet. */
  readonly storage?: StorageType;
}

/**
 * ggml's tensor types (`ggml_type` in `ggml.h`, block sizes from `ggml-common.h`), one per row.
 * Ids missing here (4, 5, 31–33…) were removed from ggml.
 */
export const GGML_TYPES: readonly GgmlTypeInfo[] = [
  { id: 0, name: "F32", blockElements: 1, blockBytes: 4, storage: "f32" },
  { id: 1, name: "F16", blockElements: 1, blockBytes: 2, storage: "f16" },
  { id: 2, name: "Q4_0", blockElements: 32, blockBytes: 18, storage: "q4_0" },
  { id: 3, name: "Q4_1", blockElements: 32, blockBytes: 20 },
  { id: 6, name: "Q5_0", blockElements: 32, blockBytes: 22, storage: "q5_0" },
  { id: 7, name: "Q5_1", blockElements: 32, blockBytes: 24 },
  { id: 8, name: "Q8_0", blockElements: 32, blockBytes: 34, storage: "q8_0" },
  { id: 9, name: "Q8_1", blockElements: 32, blockBytes: 36 },
  { id: 10, name: "Q2_K", blockElements: 256, blockBytes: 84 },
  { id: 11, name: "Q3_K", blockElements: 256, blockBytes: 110 },
  { id: 12, name: "Q4_K", blockElements: 256, blockBytes: 144, storage: "q4_k" },
  { id: 13, name: "Q5_K", blockElements: 256, blockBytes: 176, storage: "q5_k" },
  { id: 14, name: "Q6_K", blockElements: 256, blockBytes: 210, storage: "q6_k" },
  { id: 15, name: "Q8_K", blockElements: 256, blockBytes: 292 },
  { id: 16, name: "IQ2_XXS", blockElements: 256, blockBytes: 66 },
  { id: 17, name: "IQ2_XS", blockElements: 256, blockBytes: 74 },
  { id: 18, name: "IQ3_XXS", blockElements: 256, blockBytes: 98 },
  { id: 19, name: "IQ1_S", blockElements: 256, blockBytes: 50 },
  { id: 20, name: "IQ4_NL", blockElements: 32, blockBytes: 18 },
  { id: 21, name: "IQ3_S", blockElements: 256, blockBytes: 110 },
  { id: 22, name: "IQ2_S", blockElements: 256, blockBytes: 82 },
  { id: 23, name: "IQ4_XS", blockElements: 256, blockBytes: 136 },
  { id: 24, name: "I8", blockElements: 1, blockBytes: 1 },
  { id: 25, name: "I16", blockElements: 1, blockBytes: 2 },
  { id: 26, name: "I32", blockElements: 1, blockBytes: 4 },
  { id: 27, name: "I64", blockElements: 1, blockBytes: 8 },
  { id: 28, name: "F64", blockElements: 1, blockBytes: 8 },
  { id: 29, name: "IQ1_M", blockElements: 256, blockBytes: 56 },
  { id: 30, name: "BF16", blockElements: 1, blockBytes: 2, storage: "bf16" },
  { id: 34, name: "TQ1_0", blockElements: 256, blockBytes: 54 },
  { id: 35, name: "TQ2_0", blockElements: 256, blockBytes: 66 },
];

const BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(GGML_TYPES.map((t) => [t.name, t]));
const BY_STORAGE = new Map(
  GGML_TYPES.filter((t) => t.storage !== undefined).map((t) => [t.storage!, t]),
);

/**
 * The ggml type with this id.
 *
 * @param id A tensor info's type field.
 * @returns Its row, or `undefined` for an id ggml does not define.
 */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

/**
 * The ggml type of this name.
 *
 * @param name ggml's name, e.g. `Q8_0`.
 * @returns Its row.
 * @throws {RangeError} For a name not in {@linkcode GGML_TYPES}.
 */
export function ggmlType(name: string): GgmlTypeInfo {
  const found = BY_NAME.get(name);
  if (found === undefined) throw new RangeError(`"${name}" is not a ggml tensor type`);
  return found;
}

/**
 * The ggml type a storage type is written as.
 *
 * @param storage A storage type.
 * @returns Its row.
 * @throws {RangeError} When no ggml type runs as it.
 */
export function ggmlTypeOfStorage(storage: StorageType): GgmlTypeInfo {
  const found = BY_STORAGE.get(storage);
  if (found === undefined) throw new RangeError(`no ggml type is stored as "${storage}"`);
  return found;
}

/**
 * Bytes of `elements` consecutive elements of a ggml type.
 *
 * @param type The type's row.
 * @param elements A whole number of its blocks.
 * @returns The byte length.
 * @throws {RangeError} When `elements` is not a whole number of blocks.
 */
export function ggmlBytes(type: GgmlTypeInfo, elements: number): number {
  if (!Number.isSafeInteger(elements) || elements < 0 || elements % type.blockElements !== 0) {
    throw new RangeError(
      `expected a whole number of ${type.name} blocks of ${type.blockElements} elements, ` +
        `found ${elements}`,
    );
  }
  return (elements / type.blockElements) * type.blockBytes;
}

/**
 * llama.cpp's `general.file_type` codes (`llama_ftype`): what most of a file's tensors are.
 */
export const GGUF_FILE_TYPES = {
  f32: 0,
  f16: 1,
  q4_0: 2,
  q8_0: 7,
  q5_0: 8,
  q4_k_m: 15,
  q5_k_m: 17,
  bf16: 32,
} as const;
