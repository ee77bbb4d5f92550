/**
 * A streaming zip writer for uncompressed (STORED) entries, laid out the way
 * PyTorch's writer (miniz inside `torch.save`) lays them out:
 *
 * - every entry's data starts on a 64-byte boundary; the gap is filled by an
 *   extra field with id `"FB"` holding `Z` bytes in the local header;
 * - local headers carry zero CRC and sizes (general purpose flag bit 3) and a
 *   data descriptor follows each entry's data with the real CRC and sizes;
 * - an entry whose size or local-header offset reaches 0xFFFFFFFF gets a ZIP64
 *   extended-information extra field (local and central headers), and its data
 *   descriptor uses 8-byte sizes;
 * - the archive always ends with a ZIP64 end-of-central-directory record and
 *   locator before the classic end record.
 *
 * Entry sizes are declared up front (a checkpoint knows each tensor's byte
 * size), the data is streamed in chunks, and the CRC-32 is updated as the
 * chunks pass, so a 16 GB archive is written without holding it in memory.
 *
 * @example
 * ```ts
 * import { ZipWriter } from "./zip_writer.ts";
 * const zip = await ZipWriter.create("/tmp/example.zip");
 * await zip.addEntry("archive/version", new TextEncoder().encode("3\n"));
 * const entry = await zip.beginEntry("archive/data/0", 8);
 * await entry.write(new Uint8Array(8));
 * await entry.end();
 * await zip.close();
 * ```
 *
 * @module
 */

import { crc32Update } from "./crc32.ts";

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const DATA_DESCRIPTOR_SIGNATURE = 0x08074b50;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const ZIP64_END_SIGNATURE = 0x06064b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const END_SIGNATURE = 0x06054b50;

const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
/** Bit 3 (sizes and CRC in a data descriptor) and bit 11 (UTF-8 names), as torch sets them. */
const FLAGS = 0x0808;
/** Sizes and offsets at or above this need ZIP64 fields (miniz's threshold, kept). */
const ZIP32_LIMIT = 0xffffffff;
const ZIP64_EXTRA_ID = 0x0001;
/** "FB": the extra-field id torch uses for alignment padding. */
const PADDING_EXTRA_ID = 0x4246;

/** Options for {@link ZipWriter.create}. */
export interface ZipWriterOptions {
  /** Byte boundary each entry's data starts on. Default 64, as torch. */
  alignment?: number;
  /**
   * Write ZIP64 fields (size, compressed size, offset) for every entry even
   * when they would fit in 32 bits. For tests of ZIP64 readers on small files.
   */
  forceZip64?: boolean;
}

/** One entry, as the central directory needs it. */
interface EntryRecord {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly headerOffset: number;
  readonly size: number;
  /** Which ZIP64 fields the entry carries. */
  readonly zip64Size: boolean;
  readonly zip64Offset: boolean;
  crc: number;
}

/** Receives the data of one entry; see {@link ZipWriter.beginEntry}. */
export interface ZipEntrySink {
  /** Entry name inside the archive. */
  readonly name: string;
  /** Absolute file offset of the entry's first data byte (a multiple of the alignment). */
  readonly dataOffset: number;
  /**
   * Appends bytes to the entry and updates its CRC at once. The returned
   * promise settles when the bytes are in the file; until then the caller must
   * not modify `chunk`. Writes are queued in call order, so a caller may fill
   * its next buffer while this one is being written.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Finishes the entry (checks the declared size, writes the data descriptor). */
  end(): Promise<void>;
}

/** Writes all of `bytes`, looping over short writes. */
async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/** Little-endian field writer over a fixed-size buffer. */
class Fields {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.#view = new DataView(this.bytes.buffer);
  }

  u16(v: number): this {
    this.#view.setUint16(this.#at, v, true);
    this.#at += 2;
    return this;
  }

  u32(v: number): this {
    this.#view.setUint32(this.#at, v, true);
    this.#at += 4;
    return this;
  }

  u64(v: number): this {
    this.#view.setBigUint64(this.#at, BigInt(v), true);
    this.#at += 8;
    return this;
  }

  raw(b: Uint8Array): this {
    this.bytes.set(b, this.#at);
    this.#at += b.length;
    return this;
  }

  fill(byte: number, count: number): this {
    this.bytes.fill(byte, this.#at, this.#at + count);
    this.#at += count;
    return this;
  }
}

const encoder = new TextEncoder();

/** A zip archive being written to a file; see the module documentation. */
export class ZipWriter {
  readonly #file: Deno.FsFile;
  readonly #alignment: number;
  readonly #forceZip64: boolean;
  readonly #entries: EntryRecord[] = [];
  #position = 0;
  #open: string | null = null;
  #closed = false;

  private constructor(file: Deno.FsFile, options: ZipWriterOptions) {
    this.#file = file;
    this.#alignment = options.alignment ?? 64;
    this.#forceZip64 = options.forceZip64 ?? false;
    if (!Number.isInteger(this.#alignment) || this.#alignment < 1 || this.#alignment > 0x8000) {
      throw new RangeError(`zip alignment must be an integer in 1..32768, got ${this.#alignment}`);
    }
  }

  /**
   * Creates (or truncates) `path` and returns a writer for it.
   *
   * @param path The file to write.
   * @param options Alignment and ZIP64 options.
   * @returns The writer; call {@link ZipWriter.close} to finish the archive.
   */
  static async create(path: string, options: ZipWriterOptions = {}): Promise<ZipWriter> {
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    return new ZipWriter(file, options);
  }

  /** Bytes written so far (the offset the next header will start at). */
  get position(): number {
    return this.#position;
  }

  /** The entries finished so far, in file order. */
  get entries(): { name: string; size: number; crc: number }[] {
    return this.#entries.map((e) => ({ name: e.name, size: e.size, crc: e.crc }));
  }

  /**
   * Starts an entry of exactly `size` bytes: writes its local header and
   * returns a sink for the data. Only one entry can be open at a time.
   *
   * @param name Entry name (UTF-8), e.g. `"consolidated/data/0"`.
   * @param size Exact number of data bytes that will follow.
   * @returns The sink to stream the data into.
   */
  async beginEntry(name: string, size: number): Promise<ZipEntrySink> {
    if (this.#closed) throw new Error("zip writer: archive already closed");
    if (this.#open !== null) throw new Error(`zip writer: entry ${this.#open} is still open`);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`zip writer: entry size must be a non-negative integer, got ${size}`);
    }
    const nameBytes = encoder.encode(name);
    const headerOffset = this.#position;
    const zip64Size = this.#forceZip64 || size >= ZIP32_LIMIT;
    const zip64Offset = this.#forceZip64 || headerOffset >= ZIP32_LIMIT;

    // Like miniz, the local ZIP64 field holds the size (compressed size 0, since
    // flag bit 3 defers it to the descriptor) and, past 4 GiB, the header offset.
    const zip64Length = zip64Size || zip64Offset
      ? 4 + (zip64Size ? 16 : 0) + (zip64Offset ? 8 : 0)
      : 0;
    const unpadded = headerOffset + LOCAL_HEADER_SIZE + nameBytes.length + zip64Length + 4;
    const padding = (this.#alignment - (unpadded % this.#alignment)) % this.#alignment;
    const extraLength = zip64Length + 4 + padding;

    const header = new Fields(LOCAL_HEADER_SIZE + nameBytes.length + extraLength)
      .u32(LOCAL_HEADER_SIGNATURE)
      .u16(0) // version needed to extract: torch writes 0
      .u16(FLAGS)
      .u16(0) // method: stored
      .u16(0) // time
      .u16(0) // date
      .u32(0) // crc (in the data descriptor)
      .u32(0) // compressed size (in the data descriptor)
      .u32(0) // uncompressed size (in the data descriptor)
      .u16(nameBytes.length)
      .u16(extraLength)
      .raw(nameBytes);
    if (zip64Length > 0) {
      header.u16(ZIP64_EXTRA_ID).u16(zip64Length - 4);
      if (zip64Size) header.u64(size).u64(0);
      if (zip64Offset) header.u64(headerOffset);
    }
    header.u16(PADDING_EXTRA_ID).u16(padding).fill(0x5a, padding); // "Z" padding

    await writeAll(this.#file, header.bytes);
    this.#position += header.bytes.length;

    const record: EntryRecord = {
      name,
      nameBytes,
      headerOffset,
      size,
      zip64Size,
      zip64Offset,
      crc: 0,
    };
    this.#open = name;
    const dataOffset = this.#position;
    let written = 0;
    let queue: Promise<void> = Promise.resolve();
    const file = this.#file;

    return {
      name,
      dataOffset,
      write: (chunk: Uint8Array): Promise<void> => {
        if (written + chunk.length > size) {
          throw new RangeError(
            `zip writer: entry ${name} declared ${size} bytes, got at least ${
              written + chunk.length
            }`,
          );
        }
        written += chunk.length;
        record.crc = crc32Update(record.crc, chunk);
        queue = queue.then(() => writeAll(file, chunk));
        return queue;
      },
      end: async (): Promise<void> => {
        await queue;
        if (written !== size) {
          throw new RangeError(`zip writer: entry ${name} declared ${size} bytes, got ${written}`);
        }
        this.#position += size;
        const wide = zip64Length > 0;
        const descriptor = new Fields(wide ? 24 : 16)
          .u32(DATA_DESCRIPTOR_SIGNATURE)
          .u32(record.crc);
        if (wide) descriptor.u64(size).u64(size);
        else descriptor.u32(size).u32(size);
        await writeAll(file, descriptor.bytes);
        this.#position += descriptor.bytes.length;
        this.#entries.push(record);
        this.#open = null;
      },
    };
  }

  /**
   * Writes a whole entry from memory.
   *
   * @param name Entry name.
   * @param data The entry's bytes.
   * @returns The absolute offset of the entry's first data byte.
   */
  async addEntry(name: string, data: Uint8Array): Promise<number> {
    const sink = await this.beginEntry(name, data.length);
    await sink.write(data);
    await sink.end();
    return sink.dataOffset;
  }

  /** Writes the central directory (entries in file order) and end records, and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#open !== null) throw new Error(`zip writer: entry ${this.#open} is still open`);
    const entries = this.#entries;

    const centralOffset = this.#position;
    const parts: Uint8Array[] = [];
    for (const e of entries) {
      const zip64Length = (e.zip64Size ? 16 : 0) + (e.zip64Offset ? 8 : 0);
      const extraLength = zip64Length > 0 ? 4 + zip64Length : 0;
      const header = new Fields(CENTRAL_HEADER_SIZE + e.nameBytes.length + extraLength)
        .u32(CENTRAL_HEADER_SIGNATURE)
        .u16(0) // version made by: torch writes 0
        .u16(0) // version needed to extract: torch writes 0
        .u16(FLAGS)
        .u16(0) // method: stored
        .u16(0) // time
        .u16(0) // date
        .u32(e.crc)
        .u32(e.zip64Size ? ZIP32_LIMIT : e.size) // compressed size
        .u32(e.zip64Size ? ZIP32_LIMIT : e.size) // uncompressed size
        .u16(e.nameBytes.length)
        .u16(extraLength)
        .u16(0) // comment length
        .u16(0) // disk number start
        .u16(0) // internal attributes
        .u32(0) // external attributes
        .u32(e.zip64Offset ? ZIP32_LIMIT : e.headerOffset)
        .raw(e.nameBytes);
      if (zip64Length > 0) {
        header.u16(ZIP64_EXTRA_ID).u16(zip64Length);
        if (e.zip64Size) header.u64(e.size).u64(e.size);
        if (e.zip64Offset) header.u64(e.headerOffset);
      }
      parts.push(header.bytes);
    }
    const centralSize = parts.reduce((n, p) => n + p.length, 0);
    const zip64EndOffset = centralOffset + centralSize;
    const count = entries.length;

    const end = new Fields(56 + 20 + 22)
      // ZIP64 end of central directory record
      .u32(ZIP64_END_SIGNATURE)
      .u64(44) // size of the rest of this record
      .u16(0x031e) // version made by (as miniz writes it)
      .u16(45) // version needed: 4.5, ZIP64
      .u32(0) // this disk
      .u32(0) // disk with the central directory
      .u64(count)
      .u64(count)
      .u64(centralSize)
      .u64(centralOffset)
      // ZIP64 end of central directory locator
      .u32(ZIP64_LOCATOR_SIGNATURE)
      .u32(0) // disk with the ZIP64 end record
      .u64(zip64EndOffset)
      .u32(1) // total disks
      // end of central directory record
      .u32(END_SIGNATURE)
      .u16(0)
      .u16(0)
      .u16(Math.min(count, 0xffff))
      .u16(Math.min(count, 0xffff))
      .u32(Math.min(centralSize, ZIP32_LIMIT))
      .u32(Math.min(centralOffset, ZIP32_LIMIT))
      .u16(0); // comment length
    parts.push(end.bytes);

    for (const p of parts) await writeAll(this.#file, p);
    this.#position += centralSize + end.bytes.length;
    this.#closed = true;
    this.#file.close();
  }

  /** Closes the file without finishing the archive (after an error). */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}
