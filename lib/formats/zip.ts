/**
 * A read-only zip reader for the archives `torch.save` writes: the central directory (with
 * ZIP64 records for files larger than 4 GiB) tells where each entry is; each entry's local
 * header tells where its bytes start. Entries must be stored (uncompressed): the caller then
 * views their bytes in place, without copying.
 *
 * Offsets are JS numbers: exact up to 2^53 bytes, far beyond any checkpoint.
 *
 * @example
 * ```ts
 * import { readZipDirectory, storedEntryBytes } from "./zip.ts";
 *
 * const bytes = Deno.readFileSync("consolidated.00.pth");
 * const entries = readZipDirectory(bytes, "consolidated.00.pth");
 * const pkl = entries.find((e) => e.name.endsWith("/data.pkl"))!;
 * const pickle = storedEntryBytes(bytes, pkl, "consolidated.00.pth"); // a view, not a copy
 * ```
 *
 * @module
 */

import { CheckpointError } from "../errors.ts";
import { excerpt } from "./excerpt.ts";

/** One file inside a zip archive, as its central directory describes it. */
export interface ZipEntry {
  /** Path inside the archive, e.g. `consolidated/data/0`. */
  readonly name: string;
  /** Compression method: 0 = stored, 8 = deflate. */
  readonly method: number;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** Size of the bytes in the archive. */
  readonly compressedSize: number;
  /** Offset of the entry's local file header. */
  readonly localHeaderOffset: number;
  /** CRC-32 of the uncompressed bytes, as recorded (not verified). */
  readonly crc32: number;
}

const EOCD_SIGNATURE = 0x06054b50; // "PK\5\6"
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50; // "PK\6\7"
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50; // "PK\6\6"
const ZIP64_EOCD_SIZE = 56;
const CENTRAL_SIGNATURE = 0x02014b50; // "PK\1\2"
const CENTRAL_SIZE = 46;
const LOCAL_SIGNATURE = 0x04034b50; // "PK\3\4"
const LOCAL_SIZE = 30;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_COMMENT = 0xffff;
/** A 16- or 32-bit field holding all ones means "the real value is in a ZIP64 record". */
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

const TRUNCATED_FIX = "the file is truncated or not a .pth checkpoint: download it again";

/**
 * Reads the central directory of a zip archive.
 *
 * @param bytes The whole archive.
 * @param path File name used in error messages.
 * @returns The entries, in central directory order.
 * @throws {CheckpointError} When the bytes are not a readable zip archive.
 */
export function readZipDirectory(bytes: Uint8Array, path: string): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndOfCentralDirectory(view, path);
  let count = view.getUint16(eocd + 10, true);
  let directorySize = view.getUint32(eocd + 12, true);
  let directoryOffset = view.getUint32(eocd + 16, true);

  const locator = eocd - ZIP64_LOCATOR_SIZE;
  if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
    const record = readU64(view, locator + 8, path, "ZIP64 end record offset");
    if (
      record + ZIP64_EOCD_SIZE > locator ||
      view.getUint32(record, true) !== ZIP64_EOCD_SIGNATURE
    ) {
      throw new CheckpointError(
        `expected a ZIP64 end of central directory record at byte ${record}, found none`,
        { path, fix: TRUNCATED_FIX },
      );
    }
    count = readU64(view, record + 32, path, "entry count");
    directorySize = readU64(view, record + 40, path, "central directory size");
    directoryOffset = readU64(view, record + 48, path, "central directory offset");
  } else if (count === U16_MAX || directorySize === U32_MAX || directoryOffset === U32_MAX) {
    throw new CheckpointError(
      "the zip end record points to a ZIP64 record, but no ZIP64 locator precedes it",
      { path, fix: TRUNCATED_FIX },
    );
  }
  if (directoryOffset + directorySize > eocd) {
    throw new CheckpointError(
      `expected the central directory (${directorySize} bytes at byte ${directoryOffset}) ` +
        `before the end record at byte ${eocd}; the archive is truncated or corrupt`,
      { path, fix: TRUNCATED_FIX },
    );
  }

  const entries: ZipEntry[] = [];
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_SIZE > directoryOffset + directorySize) {
      throw new CheckpointError(
        `the central directory ends after ${i} of ${count} entries`,
        { path, fix: TRUNCATED_FIX },
      );
    }
    if (view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw new CheckpointError(
        `expected central directory entry ${i} at byte ${at}, found other bytes`,
        { path, fix: TRUNCATED_FIX },
      );
    }
    const method = view.getUint16(at + 10, true);
    const crc32 = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const nameStart = at + CENTRAL_SIZE;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > directoryOffset + directorySize) {
      throw new CheckpointError(
        `central directory entry ${i} runs past the end of the directory`,
        { path, fix: TRUNCATED_FIX },
      );
    }
    const name = decodeText(bytes.subarray(nameStart, extraStart));
    const quoted = excerpt(name);

    // ZIP64 extra field: holds, in this order, only the fields whose 32-bit value is all ones.
    if (size === U32_MAX || compressedSize === U32_MAX || localHeaderOffset === U32_MAX) {
      const extra = findExtraField(view, extraStart, extraLength, ZIP64_EXTRA_ID);
      if (extra === undefined) {
        throw new CheckpointError(
          `entry ${quoted} needs a ZIP64 extra field (its size or offset is 0xFFFFFFFF), ` +
            "found none",
          { path, fix: TRUNCATED_FIX },
        );
      }
      let field = extra.start;
      const take = (what: string): number => {
        if (field + 8 > extra.start + extra.length) {
          throw new CheckpointError(
            `entry ${quoted}: the ZIP64 extra field is too short to hold its ${what}`,
            { path, fix: TRUNCATED_FIX },
          );
        }
        const value = readU64(view, field, path, what);
        field += 8;
        return value;
      };
      if (size === U32_MAX) size = take("size");
      if (compressedSize === U32_MAX) compressedSize = take("compressed size");
      if (localHeaderOffset === U32_MAX) localHeaderOffset = take("local header offset");
    }
    entries.push({ name, method, size, compressedSize, localHeaderOffset, crc32 });
    at = next;
  }
  return entries;
}

/**
 * Finds where a stored entry's bytes start, by reading its local header.
 *
 * @param bytes The whole archive.
 * @param entry An entry from {@linkcode readZipDirectory}.
 * @param path File name used in error messages.
 * @returns Offset of the entry's first byte inside `bytes`.
 * @throws {CheckpointError} When the entry is compressed or lies outside the file.
 */
export function storedEntryOffset(bytes: Uint8Array, entry: ZipEntry, path: string): number {
  if (entry.method !== 0) {
    throw new CheckpointError(
      `zip entry ${
        excerpt(entry.name)
      } is compressed (method ${entry.method}); expected a stored ` +
        "entry, as torch.save writes them, so weights can be used in place",
      {
        path,
        fix: "use the checkpoint as downloaded, or re-save it with torch.save (do not re-zip it)",
      },
    );
  }
  // A stored entry's bytes are its data: two sizes that disagree mean a damaged directory, and
  // trusting either one would view bytes the archive never gave the entry.
  if (entry.size !== entry.compressedSize) {
    throw new CheckpointError(
      `zip entry ${excerpt(entry.name)} is stored, but its central directory gives ` +
        `${entry.compressedSize} bytes in the archive and ${entry.size} uncompressed; ` +
        "expected the same size twice",
      { path, fix: TRUNCATED_FIX },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localHeaderOffset;
  if (at + LOCAL_SIZE > bytes.length || view.getUint32(at, true) !== LOCAL_SIGNATURE) {
    throw new CheckpointError(
      `expected the local header of zip entry ${excerpt(entry.name)} at byte ${at}, found ` +
        (at + LOCAL_SIZE > bytes.length ? "the end of the file" : "other bytes"),
      { path, fix: TRUNCATED_FIX },
    );
  }
  // The local header repeats the entry's name: a different one means the offset is wrong.
  const nameLength = view.getUint16(at + 26, true);
  const localName = bytes.subarray(at + LOCAL_SIZE, at + LOCAL_SIZE + nameLength);
  if (decodeText(localName) !== entry.name) {
    throw new CheckpointError(
      `the local header at byte ${at} does not name zip entry ${excerpt(entry.name)}, as the ` +
        "central directory says it should",
      { path, fix: TRUNCATED_FIX },
    );
  }
  // The local header's own sizes may be zero (torch writes a data descriptor after the data);
  // only its name and extra lengths matter here. The extra field pads the data to 64 bytes.
  const start = at + LOCAL_SIZE + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  if (start + entry.compressedSize > bytes.length) {
    throw new CheckpointError(
      `zip entry ${excerpt(entry.name)} needs bytes ${start}..${start + entry.compressedSize}, ` +
        `but the file has only ${bytes.length} bytes`,
      { path, fix: TRUNCATED_FIX },
    );
  }
  return start;
}

/**
 * Views the bytes of a stored entry (no copy).
 *
 * @param bytes The whole archive.
 * @param entry An entry from {@linkcode readZipDirectory}.
 * @param path File name used in error messages.
 * @returns A subarray of `bytes`.
 */
export function storedEntryBytes(bytes: Uint8Array, entry: ZipEntry, path: string): Uint8Array {
  const start = storedEntryOffset(bytes, entry, path);
  return bytes.subarray(start, start + entry.size);
}

/** Scans backwards for the end-of-central-directory record (it may be followed by a comment). */
function findEndOfCentralDirectory(view: DataView, path: string): number {
  const last = view.byteLength - EOCD_SIZE;
  const first = Math.max(0, last - MAX_COMMENT);
  for (let at = last; at >= first; at--) {
    if (
      view.getUint32(at, true) === EOCD_SIGNATURE &&
      at + EOCD_SIZE + view.getUint16(at + 20, true) === view.byteLength
    ) {
      return at;
    }
  }
  throw new CheckpointError(
    view.byteLength < EOCD_SIZE
      ? `expected a zip archive, found only ${view.byteLength} bytes`
      : "expected a zip archive, found no end-of-central-directory record at the end of the file",
    { path, fix: TRUNCATED_FIX },
  );
}

/** Finds one field of an extra-field block: a sequence of (id u16, length u16, data). */
function findExtraField(
  view: DataView,
  start: number,
  length: number,
  id: number,
): { start: number; length: number } | undefined {
  let at = start;
  while (at + 4 <= start + length) {
    const fieldId = view.getUint16(at, true);
    const fieldLength = view.getUint16(at + 2, true);
    if (fieldId === id) {
      return { start: at + 4, length: Math.min(fieldLength, start + length - at - 4) };
    }
    at += 4 + fieldLength;
  }
  return undefined;
}

function readU64(view: DataView, at: number, path: string, what: string): number {
  if (at + 8 > view.byteLength) {
    throw new CheckpointError(`the zip ${what} lies past the end of the file`, {
      path,
      fix: TRUNCATED_FIX,
    });
  }
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CheckpointError(`the zip ${what} is ${value}, larger than any real file`, {
      path,
      fix: TRUNCATED_FIX,
    });
  }
  return Number(value);
}

const textDecoder = new TextDecoder();

/** Decodes UTF-8; copies first because TextDecoder refuses views of a SharedArrayBuffer. */
function decodeText(bytes: Uint8Array): string {
  return textDecoder.decode(bytes.slice());
}
