/**
 * Reads a PyTorch `.pth` state dict (as `torch.save` writes it) into zero-copy tensor views.
 *
 * The file is a zip archive of stored entries: `<archive>/data.pkl`, a pickle of a dict from
 * tensor names to `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls,
 * and one entry `<archive>/data/<key>` per storage, holding its raw little-endian elements.
 * The pickle refers to storages by persistent id `("storage", torch.BFloat16Storage, key,
 * location, numel)`. Each tensor becomes a typed-array view into the caller's bytes, at the
 * storage's data offset plus the tensor's storage offset: weights are never copied.
 *
 * @example
 * ```ts
 * import { readPth } from "./pth.ts";
 *
 * const bytes = Deno.readFileSync("consolidated.00.pth");
 * const tensors = readPth(bytes, "consolidated.00.pth");
 * const norm = tensors.get("norm.weight")!; // { dtype: "bf16", shape: [4096], data: Uint16Array }
 * ```
 *
 * @module
 */

import { CheckpointError } from "../errors.ts";
import { type FloatStorageType, storageBytes } from "../tensor/storage.ts";
import { excerpt } from "./excerpt.ts";
import { LIMITS } from "./limits.ts";
import { loadPickle, type PickleCallable } from "./pickle.ts";
import { readZipDirectory, storedEntryBytes, storedEntryOffset, type ZipEntry } from "./zip.ts";

/** One tensor of a `.pth` file, viewed in place. */
export interface PthTensor {
  /** Name in the state dict, e.g. `layers.0.attention.wq.weight`. */
  readonly name: string;
  /** Element type. */
  readonly dtype: FloatStorageType;
  /** Dimensions, outermost first; `[]` for a 0-dim tensor. */
  readonly shape: readonly number[];
  /** Offset of element 0 from the start of the file. */
  readonly byteOffset: number;
  /** Zero-copy view of the elements, row-major, `length` = product of `shape`. */
  readonly data: Uint16Array | Float32Array;
}

/**
 * The storage classes torch pickles, by element type. A Map, not an object: a pickle naming
 * `torch.toString` must not find `Object.prototype`'s.
 */
const STORAGE_DTYPES: ReadonlyMap<string, FloatStorageType> = new Map([
  ["BFloat16Storage", "bf16"],
  ["HalfStorage", "f16"],
  ["FloatStorage", "f32"],
]);

/** Storage classes torch may name that we recognise but cannot use. */
const OTHER_STORAGES = new Set([
  "DoubleStorage",
  "LongStorage",
  "IntStorage",
  "ShortStorage",
  "CharStorage",
  "ByteStorage",
  "BoolStorage",
  "ComplexFloatStorage",
  "ComplexDoubleStorage",
  "QInt8Storage",
  "QUInt8Storage",
  "QInt32Storage",
  "UntypedStorage",
]);

/** A storage class named in the pickle (a GLOBAL such as `torch.BFloat16Storage`). */
interface StorageClass {
  readonly className: string;
  readonly dtype: FloatStorageType | undefined;
}

/** What a persistent id `("storage", class, key, location, numel)` resolves to. */
interface Storage {
  readonly storageClass: StorageClass;
  readonly key: string;
  readonly numel: number;
}

/** What `_rebuild_tensor_v2` returns before the tensor has a name. */
class TensorRecord {
  constructor(
    readonly storage: Storage,
    readonly storageOffset: unknown,
    readonly size: unknown,
    readonly stride: unknown,
  ) {}
}

const RECOVER_FIX = "download the checkpoint again, or re-save it with torch.save(state_dict)";

/**
 * Reads every tensor of a `.pth` file.
 *
 * @param bytes The whole file (typically its pages mapped into memory); tensors view them.
 * @param path The file's path, for error messages.
 * @returns Tensors by name, in the order the file lists them.
 * @throws {CheckpointError} When the file is not a torch.save zip archive, an entry is
 * compressed or misaligned, the pickle uses an unknown opcode or class, a tensor is not
 * contiguous or lies outside its storage.
 */
export function readPth(bytes: Uint8Array, path: string): Map<string, PthTensor> {
  const entries = readZipDirectory(bytes, path);
  const pkl = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pkl === undefined) {
    const found = entries.slice(0, 5).map((e) => excerpt(e.name, 40)).join(", ");
    throw new CheckpointError(
      `expected a torch.save archive with an entry "<name>/data.pkl", found ${
        entries.length === 0 ? "no entries" : `entries ${found}${entries.length > 5 ? ", ..." : ""}`
      }`,
      { path, fix: RECOVER_FIX },
    );
  }
  const prefix = pkl.name.slice(0, -"data.pkl".length);
  const byName = new Map(entries.map((e) => [e.name, e]));
  checkByteOrder(bytes, byName.get(`${prefix}byteorder`), path);

  const source = `${path} (entry ${pkl.name})`;
  const storageClasses = new WeakMap<PickleCallable, StorageClass>();
  const storages = new Map<string, Storage>();
  const failPickle = (message: string): never => {
    throw new CheckpointError(message, {
      path: source,
      fix: "llama-bolts reads state dicts of bf16/f16/f32 tensors as torch.save writes them; " +
        "re-save the checkpoint as a plain dict of tensors",
    });
  };

  const root = loadPickle(storedEntryBytes(bytes, pkl, path), {
    findClass(module, name): PickleCallable {
      if (module === "collections" && name === "OrderedDict") return () => new Map();
      if (module === "torch._utils" && name === "_rebuild_tensor_v2") {
        return (storage, storageOffset, size, stride) => {
          if (!isStorage(storage, storages)) {
            return failPickle("_rebuild_tensor_v2 expects a storage as its first argument");
          }
          return new TensorRecord(storage, storageOffset, size, stride);
        };
      }
      // nn.Parameter(tensor, requires_grad, hooks): the tensor is all we need.
      if (module === "torch._utils" && name === "_rebuild_parameter") return (data) => data;
      if (module === "torch" && (STORAGE_DTYPES.has(name) || OTHER_STORAGES.has(name))) {
        const cls: PickleCallable = () => failPickle(`torch.${name} cannot be called here`);
        storageClasses.set(cls, { className: `torch.${name}`, dtype: STORAGE_DTYPES.get(name) });
        return cls;
      }
      return failPickle(
        `unsupported class ${excerpt(`${module}.${name}`)} in the pickle; ` +
          "expected only " +
          "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch storage classes",
      );
    },
    persistentLoad(pid) {
      if (
        !Array.isArray(pid) || pid.length !== 5 || pid[0] !== "storage" ||
        typeof pid[2] !== "string" || !Number.isSafeInteger(pid[4]) || pid[4] < 0
      ) {
        return failPickle(
          "expected a persistent id ('storage', storage class, key, location, numel)",
        );
      }
      const storageClass = storageClasses.get(pid[1]);
      if (storageClass === undefined) {
        return failPickle(`the storage ${excerpt(pid[2])} has no torch storage class`);
      }
      const key: string = pid[2];
      let storage = storages.get(key);
      if (storage === undefined) {
        // Frozen: nothing the pickle does later may change what was checked here.
        storage = Object.freeze({ storageClass, key, numel: pid[4] });
        storages.set(key, storage);
      }
      return storage;
    },
  }, source);

  if (!(root instanceof Map)) {
    throw new CheckpointError(
      "expected the pickle to hold a dict of tensors (a state dict), found another value",
      { path: source, fix: RECOVER_FIX },
    );
  }
  const dataOffsets = new Map<string, number>();
  const tensors = new Map<string, PthTensor>();
  for (const [name, record] of root) {
    if (typeof name !== "string" || !(record instanceof TensorRecord)) {
      throw new CheckpointError(
        `expected a dict from names to tensors, found entry ${excerpt(String(name))} ` +
          "that is not a tensor",
        { path: source, fix: RECOVER_FIX },
      );
    }
    const { storage } = record;
    let dataOffset = dataOffsets.get(storage.key);
    if (dataOffset === undefined) {
      dataOffset = storageDataOffset(bytes, byName, prefix, storage, name, path);
      dataOffsets.set(storage.key, dataOffset);
    }
    tensors.set(name, tensorView(bytes, name, record, dataOffset, path));
  }
  return tensors;
}

function isStorage(value: unknown, storages: Map<string, Storage>): value is Storage {
  return typeof value === "object" && value !== null && "key" in value &&
    storages.get((value as Storage).key) === value;
}

/** Newer torch records the byte order; we read elements as little-endian. */
function checkByteOrder(bytes: Uint8Array, entry: ZipEntry | undefined, path: string): void {
  if (entry === undefined) return;
  const order = new TextDecoder().decode(storedEntryBytes(bytes, entry, path).slice()).trim();
  if (order !== "little") {
    throw new CheckpointError(
      `expected a little-endian checkpoint, found byteorder ${excerpt(order)}`,
      { path, fix: "re-save the checkpoint with torch.save on a little-endian machine" },
    );
  }
}

/** Where a storage's elements start, after checking its entry is present, stored and big enough. */
function storageDataOffset(
  bytes: Uint8Array,
  byName: Map<string, ZipEntry>,
  prefix: string,
  storage: Storage,
  tensorName: string,
  path: string,
): number {
  const { dtype, className } = storage.storageClass;
  const quoted = excerpt(tensorName);
  if (dtype === undefined) {
    throw new CheckpointError(
      `tensor ${quoted} is stored as ${className}; expected torch.BFloat16Storage, ` +
        "torch.HalfStorage or torch.FloatStorage",
      { path, fix: "convert the checkpoint's tensors to bfloat16, float16 or float32" },
    );
  }
  const entryName = `${prefix}data/${storage.key}`;
  const entry = byName.get(entryName);
  if (entry === undefined) {
    throw new CheckpointError(
      `tensor ${quoted} needs storage entry ${excerpt(entryName)}, which the archive lacks`,
      { path, fix: RECOVER_FIX },
    );
  }
  const needed = storageBytes(dtype, storage.numel);
  if (entry.size < needed) {
    throw new CheckpointError(
      `storage entry ${excerpt(entryName)} has ${entry.size} bytes; expected ${needed} ` +
        `(${storage.numel} ${dtype} elements)`,
      { path, fix: RECOVER_FIX },
    );
  }
  return storedEntryOffset(bytes, entry, path);
}

/** Checks a tensor's geometry and makes its typed-array view. */
function tensorView(
  bytes: Uint8Array,
  name: string,
  record: TensorRecord,
  dataOffset: number,
  path: string,
): PthTensor {
  const { storage, storageOffset, size, stride } = record;
  const dtype = storage.storageClass.dtype!;
  const quoted = excerpt(name);
  const isDims = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length <= LIMITS.tensorRank &&
    v.every((n) => Number.isSafeInteger(n) && n >= 0);
  if (
    !isDims(size) || !isDims(stride) || size.length !== stride.length ||
    !Number.isSafeInteger(storageOffset) || (storageOffset as number) < 0
  ) {
    throw new CheckpointError(
      `tensor ${quoted} has a malformed size, stride or storage offset (expected at most ` +
        `${LIMITS.tensorRank} dimensions of whole numbers)`,
      { path, fix: RECOVER_FIX },
    );
  }
  const offset = storageOffset as number;
  const shape = Object.freeze([...size]);
  const numel = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(offset + numel)) {
    throw new CheckpointError(
      `tensor ${quoted} has shape [${shape}], too many elements for any file`,
      { path, fix: RECOVER_FIX },
    );
  }

  // Row-major strides; dims of size 1 may carry any stride (torch calls those contiguous too).
  const expected = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    expected[d] = step;
    step *= shape[d];
  }
  const contiguous = numel === 0 || shape.every((n, d) => n === 1 || stride[d] === expected[d]);
  if (!contiguous) {
    throw new CheckpointError(
      `tensor ${quoted} is not contiguous: shape [${shape}] has strides [${stride}], ` +
        `expected row-major strides [${expected}]`,
      { path, fix: "save the checkpoint with contiguous tensors (tensor.contiguous())" },
    );
  }
  if (offset + numel > storage.numel) {
    throw new CheckpointError(
      `tensor ${quoted} needs elements ${offset}..${offset + numel} of storage ` +
        `${excerpt(storage.key)}, which has only ${storage.numel}`,
      { path, fix: RECOVER_FIX },
    );
  }
  const elementBytes = storageBytes(dtype, 1);
  const byteOffset = dataOffset + offset * elementBytes;
  if (byteOffset % elementBytes !== 0) {
    throw new CheckpointError(
      `tensor ${quoted} starts at byte ${byteOffset}, which is not aligned to its ` +
        `${elementBytes}-byte ${dtype} elements (torch.save aligns data to 64 bytes)`,
      { path, fix: "re-save the checkpoint with torch.save instead of re-zipping it" },
    );
  }
  const at = bytes.byteOffset + byteOffset;
  const data = dtype === "f32"
    ? new Float32Array(bytes.buffer, at, numel)
    : new Uint16Array(bytes.buffer, at, numel);
  return Object.freeze({ name, dtype, shape, byteOffset, data });
}
