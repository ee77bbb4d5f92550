/**
 * Packs entries into a stored (uncompressed) zip archive in memory, data aligned to 64 bytes
 * as torch.save aligns it: the fuzzer's way to rebuild a `.pth` around a mutated pickle, so
 * that the mutation reaches the pickle reader instead of stopping at the zip layer. CRCs are
 * left zero (the reader records but does not check them).
 *
 * @example
 * ```ts
 * import { packZip } from "./zip_pack.ts";
 *
 * const archive = packZip([["archive/data.pkl", new Uint8Array([0x80, 2, 0x7d, 0x2e])]]);
 * ```
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Builds the archive.
 *
 * @param entries `[name, bytes]` pairs, in order.
 * @returns The archive's bytes.
 */
export function packZip(entries: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = encoder.encode(name);
    // Pad with an extra field so the data starts on a 64-byte boundary.
    const extraLength = (64 - ((offset + 30 + nameBytes.length + 4) % 64)) % 64 + 4;
    const local = new Uint8Array(30 + nameBytes.length + extraLength);
    const view = new DataView(local.buffer);
    view.setUint32(0, 0x04034b50, true);
    view.setUint16(4, 20, true);
    view.setUint32(18, data.length, true);
    view.setUint32(22, data.length, true);
    view.setUint16(26, nameBytes.length, true);
    view.setUint16(28, extraLength, true);
    local.set(nameBytes, 30);
    view.setUint16(30 + nameBytes.length, 0x4246, true); // torch's padding field id "FB"
    view.setUint16(32 + nameBytes.length, extraLength - 4, true);
    const record = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(record.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    record.set(nameBytes, 46);
    central.push(record);
    parts.push(local, data);
    offset += local.length + data.length;
  }
  let directorySize = 0;
  for (const record of central) directorySize += record.length;
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, directorySize, true);
  ev.setUint32(16, offset, true);
  const all = [...parts, ...central, end];
  let total = 0;
  for (const part of all) total += part.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of all) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
