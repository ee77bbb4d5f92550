/**
 * Reads the header of a GGUF file (llama.cpp's model format, versions 2 and 3): the metadata,
 * every tensor's name, type, shape and place. Tensor data is not touched: tensors are
 * addresses in the file's bytes, which the caller maps (`WeightsMemory`), so nothing is copied.
 *
 * Layout (`gguf_types.ts` has the constants): magic `GGUF`, u32 version, u64 tensor count, u64
 * metadata count; each metadata pair is a string key (u64 length + UTF-8), a u32 value type and
 * the value (an array is a u32 item type, a u64 count and the items); each tensor info is its
 * name, u32 dimension count, u64 dimensions **innermost first** (`ne[0]` is the row length), u32
 * ggml type and u64 offset from the data section. The data section starts at the next multiple
 * of `general.alignment` (default 32) after the infos; every offset is a multiple of it.
 *
 * The reader trusts nothing: a count or length is checked against the bytes that remain before
 * anything is allocated, so a damaged or hostile header fails in one clear error at once,
 * never by exhausting memory or looping for long.
 *
 * @example
 * ```ts
 * import { readGguf } from "./gguf.ts";
 *
 * const bytes = Deno.readFileSync("/models/Llama-3.2-1B-Instruct-Q8_0.gguf");
 * const file = readGguf(bytes, "/models/Llama-3.2-1B-Instruct-Q8_0.gguf");
 * file.metadata.get("general.architecture")?.value; // "llama"
 * file.tensors.get("blk.0.attn_q.weight")?.shape; // [2048, 2048]
 * ```
 *
 * @module
 */

import { CheckpointError } from "../errors.ts";
import { excerpt } from "./excerpt.ts";
import {
  ggmlBytes,
  ggmlTypeById,
  type GgmlTypeInfo,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_READ_VERSIONS,
  GGUF_VALUE_TYPES,
  type GgufScalarType,
  type GgufValue,
  type GgufValueType,
} from "./gguf_types.ts";

/** One tensor's info. */
export interface GgufTensorInfo {
  /** Its name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Its ggml type (possibly one the engine does not run: see `storage`). */
  readonly type: GgmlTypeInfo;
  /** Dimensions, outermost first (`[rows, cols]`), the reverse of the file's `ne`. */
  readonly shape: readonly number[];
  /** Where its data starts, from the start of the file. */
  readonly byteOffset: number;
  /** Its data's size. */
  readonly byteLength: number;
}

/** A GGUF file's header. */
export interface GgufFile {
  /** 2 or 3. */
  readonly version: number;
  /** Data alignment (`general.alignment`, default 32). */
  readonly alignment: number;
  /** Metadata by key, in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensor infos by name, in file order. */
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  /** Where the data section starts in the file. */
  readonly dataOffset: number;
}

const TYPE_NAMES = new Map<number, GgufValueType>(
  Object.entries(GGUF_VALUE_TYPES).map(([name, id]) => [id, name as GgufValueType]),
);

/** Bytes a scalar of each fixed-size type takes (strings take at least 8). */
const SCALAR_BYTES: Readonly<Record<GgufScalarType, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  string: 8,
  uint64: 8,
  int64: 8,
  float64: 8,
};

/** Most dimensions a ggml tensor has. */
const MAX_DIMS = 4;

const FIX = "the file is damaged or not a GGUF model: download or convert it again";

/**
 * Parses a GGUF header and checks every tensor against the file's size.
 *
 * @param bytes The whole file (mapped, typically).
 * @param path The file, for messages.
 * @returns Version, metadata, tensor infos and the data section's offset.
 * @throws {CheckpointError} For a file that is not GGUF, truncated, of an unsupported version,
 * with a value or tensor info that breaks the format (unknown value or tensor type, misaligned
 * or out-of-file data, absurd counts or lengths).
 */
export function readGguf(bytes: Uint8Array, path: string): GgufFile {
  const r = new HeaderReader(bytes, path);
  if (bytes.length < 4 || r.view.getUint32(0, true) !== GGUF_MAGIC) {
    const found = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new CheckpointError(
      `expected a GGUF file (starting with "GGUF"), found ${
        found === "" ? "an empty file" : found
      }`,
      { path, fix: "pass a .gguf model file, or a model folder" },
    );
  }
  r.at = 4;
  const version = r.u32("the version");
  if (!GGUF_READ_VERSIONS.includes(version)) {
    const bigEndian = (version & 0xffffff) === 0 && GGUF_READ_VERSIONS.includes(version >>> 24);
    throw new CheckpointError(
      bigEndian
        ? "expected a little-endian GGUF file, found a big-endian one"
        : `expected GGUF version ${GGUF_READ_VERSIONS.join(" or ")}, found version ${version}`,
      {
        path,
        fix: version === 1
          ? "version 1 files are from 2023: convert the model again with a current llama.cpp"
          : "convert the model again with llama.cpp's convert_hf_to_gguf.py or `llama convert`",
      },
    );
  }
  const tensorCount = r.count("the tensor count", 8 + 4 + 8 + 4 + 8);
  const metadataCount = r.count("the metadata count", 8 + 4 + 1);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < metadataCount; i++) {
    const key = r.string(`metadata key ${i}`);
    const label = excerpt(key); // the key as messages may quote it
    const typeId = r.u32(`the type of ${label}`);
    const type = TYPE_NAMES.get(typeId);
    if (type === undefined) r.fail(`metadata ${label} has unknown value type ${typeId}`);
    if (metadata.has(key)) r.fail(`metadata key ${label} appears twice`);
    metadata.set(key, r.value(type!, label));
  }

  const alignmentValue = metadata.get("general.alignment");
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignmentValue !== undefined) {
    const a = alignmentValue.value;
    if (alignmentValue.type !== "uint32" || typeof a !== "number" || a < 1 || (a & (a - 1)) !== 0) {
      r.fail(`expected "general.alignment" to be a power of two (u32), found ${String(a)}`);
    }
    alignment = a as number;
  }

  const infos: Array<{ name: string; type: GgmlTypeInfo; shape: number[]; offset: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(`the name of tensor ${i}`);
    const label = excerpt(name); // the name as messages may quote it
    if (names.has(name)) r.fail(`tensor ${label} appears twice`);
    names.add(name);
    const nDims = r.u32(`the dimension count of tensor ${label}`);
    if (nDims < 1 || nDims > MAX_DIMS) {
      r.fail(`tensor ${label} has ${nDims} dimensions; expected 1 to ${MAX_DIMS}`);
    }
    const ne: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = r.u64(`dimension ${d} of tensor ${label}`);
      if (n < 1) r.fail(`tensor ${label} has an empty dimension (ne[${d}] = 0)`);
      elements *= n;
      if (elements > bytes.length * 8) {
        r.fail(`tensor ${label} has more elements than the file could hold (ne = ${ne}, ${n}…)`);
      }
      ne.push(n);
    }
    const typeId = r.u32(`the type of tensor ${label}`);
    const type = ggmlTypeById(typeId);
    if (type === undefined) {
      r.fail(`tensor ${label} has unknown ggml type id ${typeId}`, {
        fix: "the file may come from a newer llama.cpp than llama-bolts knows",
      });
    }
    if (ne[0] % type!.blockElements !== 0) {
      r.fail(
        `tensor ${label}: rows of ${ne[0]} elements are not whole ${type!.name} blocks of ` +
          `${type!.blockElements}`,
      );
    }
    const offset = r.u64(`the offset of tensor ${label}`);
    if (offset % alignment !== 0) {
      r.fail(
        `tensor ${label} is misaligned: its data offset ${offset} is not a multiple of the ` +
          `alignment ${alignment}`,
      );
    }
    infos.push({ name, type: type!, shape: ne.reverse(), offset });
  }

  const dataOffset = Math.ceil(r.at / alignment) * alignment;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const { name, type, shape, offset } of infos) {
    const byteLength = ggmlBytes(type, shape.reduce((a, b) => a * b, 1));
    const byteOffset = dataOffset + offset;
    if (byteOffset + byteLength > bytes.length) {
      throw new CheckpointError(
        `tensor ${excerpt(name)} lies past the end of the file: its data ends at byte ` +
          `${byteOffset + byteLength}, the file has ${bytes.length}`,
        { path, fix: "the file is truncated: download or convert it again" },
      );
    }
    tensors.set(name, { name, type, shape, byteOffset, byteLength });
  }
  return { version, alignment, metadata, tensors, dataOffset };
}

/**
 * A metadata value as a string, or `undefined` when absent.
 *
 * @param file The header.
 * @param key The key.
 * @param path The file, for messages.
 * @returns The string.
 * @throws {CheckpointError} When the value is not a string.
 */
export function ggufString(file: GgufFile, key: string, path: string): string | undefined {
  const v = file.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== "string") {
    throw new CheckpointError(`expected "${key}" to be a string, found a ${v.type}`, {
      path,
      fix: FIX,
    });
  }
  return v.value as string;
}

/**
 * A metadata value as a number (any integer or float type), or `undefined` when absent.
 *
 * @param file The header.
 * @param key The key.
 * @param path The file, for messages.
 * @returns The number.
 * @throws {CheckpointError} When the value is not a number.
 */
export function ggufNumber(file: GgufFile, key: string, path: string): number | undefined {
  const v = file.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type === "array" || v.type === "string" || v.type === "bool") {
    throw new CheckpointError(`expected "${key}" to be a number, found a ${v.type}`, {
      path,
      fix: FIX,
    });
  }
  return Number(v.value);
}

/** A cursor over the header's bytes whose every read is bounds-checked. */
class HeaderReader {
  readonly view: DataView;
  at = 0;
  readonly #bytes: Uint8Array;
  readonly #path: string;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });

  constructor(bytes: Uint8Array, path: string) {
    this.#bytes = bytes;
    this.#path = path;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(message: string, details: { fix?: string } = {}): never {
    throw new CheckpointError(message, { path: this.#path, fix: details.fix ?? FIX });
  }

  /** Room for `n` more bytes, else the truncation error naming what was being read. */
  need(n: number, what: string): void {
    if (this.at + n > this.#bytes.length) {
      this.fail(
        `the file is truncated: reading ${what} at byte ${this.at} needs ${n} bytes, ` +
          `${this.#bytes.length - this.at} remain`,
        { fix: "download or convert the file again; it is incomplete" },
      );
    }
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  u64(what: string): number {
    this.need(8, what);
    const low = this.view.getUint32(this.at, true), high = this.view.getUint32(this.at + 4, true);
    if (high >= 0x200000) {
      this.fail(`${what} is absurdly large (${this.view.getBigUint64(this.at, true)})`);
    }
    this.at += 8;
    return high * 0x100000000 + low;
  }

  /** A u64 count of items that each take at least `minItemBytes` of what remains. */
  count(what: string, minItemBytes: number): number {
    const n = this.u64(what);
    const remaining = this.#bytes.length - this.at;
    if (n * minItemBytes > remaining) {
      this.fail(
        `the file is truncated or damaged: ${what} (${n}) needs at least ` +
          `${n * minItemBytes} bytes, only ${remaining} remain`,
      );
    }
    return n;
  }

  string(what: string): string {
    const length = this.u64(`the length of ${what}`);
    if (length > this.#bytes.length - this.at) {
      this.fail(
        `the string length of ${what} (${length}) runs past the end of the file ` +
          `(${this.#bytes.length - this.at} bytes remain)`,
      );
    }
    const start = this.at;
    this.at += length;
    // Short strings (token texts: hundreds of thousands of them) are decoded here, faster than
    // TextDecoder calls; long ones are copied first, as TextDecoder refuses shared memory.
    const text = length <= 64
      ? decodeShortUtf8(this.#bytes, start, start + length)
      : this.#decode(this.#bytes.slice(start, start + length));
    if (text === undefined) this.fail(`${what} is not valid UTF-8`);
    return text!;
  }

  #decode(bytes: Uint8Array): string | undefined {
    try {
      return this.#decoder.decode(bytes);
    } catch {
      return undefined;
    }
  }

  value(type: GgufValueType, label: string): GgufValue {
    if (type !== "array") return { type, value: this.scalar(type, label) };
    const itemTypeId = this.u32(`the item type of ${label}`);
    const itemType = TYPE_NAMES.get(itemTypeId);
    if (itemType === undefined) this.fail(`array ${label} has unknown item type ${itemTypeId}`);
    if (itemType === "array") {
      this.fail(`array ${label} holds arrays, which llama-bolts does not read`);
    }
    const scalarType = itemType as GgufScalarType;
    const length = this.count(`the length of array ${label}`, SCALAR_BYTES[scalarType]);
    return { type: "array", itemType: scalarType, value: this.items(scalarType, length, label) };
  }

  items(
    type: GgufScalarType,
    n: number,
    label: string,
  ): ArrayLike<number | bigint | boolean | string> {
    const size = SCALAR_BYTES[type];
    const copy = <T>(make: (buffer: ArrayBuffer) => T): T => {
      const buffer = new ArrayBuffer(n * size);
      new Uint8Array(buffer).set(this.#bytes.subarray(this.at, this.at + n * size));
      this.at += n * size;
      return make(buffer);
    };
    switch (type) {
      case "uint8":
        return copy((b) => new Uint8Array(b));
      case "int8":
        return copy((b) => new Int8Array(b));
      case "uint16":
        return copy((b) => new Uint16Array(b));
      case "int16":
        return copy((b) => new Int16Array(b));
      case "uint32":
        return copy((b) => new Uint32Array(b));
      case "int32":
        return copy((b) => new Int32Array(b));
      case "float32":
        return copy((b) => new Float32Array(b));
      case "float64":
        return copy((b) => new Float64Array(b));
      case "uint64":
        return copy((b) => new BigUint64Array(b));
      case "int64":
        return copy((b) => new BigInt64Array(b));
      case "bool":
        return Array.from(copy((b) => new Uint8Array(b)), (v) => v !== 0);
      case "string":
        return this.#shortStrings(n) ?? this.#strings(n, label);
    }
  }

  #strings(n: number, label: string): string[] {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = this.string(`item ${i} of ${label}`);
    return out;
  }

  /**
   * The fast path for an array of strings (a vocabulary: 128256 tokens, 280147 merges): the
   * strings' bytes are gathered without their length prefixes and decoded by one TextDecoder
   * call, then each string is cut out of the text (one UTF-16 unit per UTF-8 lead byte, two for
   * a 4-byte sequence). When every string starts on a character boundary, the whole being
   * valid UTF-8 means each string is. Returns `undefined` (the caller then takes the slow path
   * and its precise errors) for anything else.
   */
  #shortStrings(n: number): string[] | undefined {
    const bytes = this.#bytes, view = this.view;
    const lengths = new Uint32Array(n);
    let at = this.at, total = 0;
    for (let i = 0; i < n; i++) {
      if (at + 8 > bytes.length || view.getUint32(at + 4, true) !== 0) return undefined;
      const length = view.getUint32(at, true);
      at += 8;
      if (length > bytes.length - at || (length > 0 && (bytes[at] & 0xc0) === 0x80)) {
        return undefined;
      }
      lengths[i] = length;
      total += length;
      at += length;
    }
    const gathered = new Uint8Array(total);
    at = this.at;
    let filled = 0;
    for (let i = 0; i < n; i++) {
      at += 8;
      for (const end = at + lengths[i]; at < end; at++) gathered[filled++] = bytes[at];
    }
    const text = this.#decode(gathered);
    if (text === undefined) return undefined;
    const out = new Array<string>(n);
    let char = 0, k = 0;
    for (let i = 0; i < n; i++) {
      let units = 0;
      for (const end = k + lengths[i]; k < end; k++) {
        const b = gathered[k];
        if ((b & 0xc0) !== 0x80) units += b >= 0xf0 ? 2 : 1;
      }
      out[i] = text.substring(char, char + units);
      char += units;
    }
    this.at = at;
    return out;
  }

  scalar(type: GgufScalarType, label: string): number | bigint | boolean | string {
    if (type === "string") return this.string(`the value of ${label}`);
    const size = SCALAR_BYTES[type];
    this.need(size, `the value of ${label}`);
    const v = this.view, at = this.at;
    this.at += size;
    switch (type) {
      case "uint8":
        return v.getUint8(at);
      case "int8":
        return v.getInt8(at);
      case "uint16":
        return v.getUint16(at, true);
      case "int16":
        return v.getInt16(at, true);
      case "uint32":
        return v.getUint32(at, true);
      case "int32":
        return v.getInt32(at, true);
      case "float32":
        return v.getFloat32(at, true);
      case "float64":
        return v.getFloat64(at, true);
      case "bool":
        return v.getUint8(at) !== 0;
      case "uint64": {
        const big = v.getBigUint64(at, true);
        return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      }
      case "int64": {
        const big = v.getBigInt64(at, true);
        const safe = big <= BigInt(Number.MAX_SAFE_INTEGER) &&
          big >= -BigInt(Number.MAX_SAFE_INTEGER);
        return safe ? Number(big) : big;
      }
    }
  }
}

/**
 * UTF-8 bytes `[start, end)` as a string, or `undefined` when they are not valid UTF-8
 * (overlong forms, surrogates and code points past U+10FFFF included).
 */
function decodeShortUtf8(bytes: Uint8Array, start: number, end: number): string | undefined {
  let text = "";
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      text += String.fromCharCode(b);
      i++;
      continue;
    }
    const n = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 ? 1 : 0;
    if (n === 0 || b > 0xf4 || i + n >= end) return undefined; // stray byte, or cut short
    let code = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) return undefined;
      code = (code << 6) | (c & 0x3f);
    }
    const min = n === 1 ? 0x80 : n === 2 ? 0x800 : 0x10000;
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
    text += String.fromCodePoint(code);
    i += n + 1;
  }
  return text;
}
