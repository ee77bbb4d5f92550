/**
 * Test worker for `tests/mmap_test.ts`: receives `MappedFile.shared` and byte
 * ranges, rebuilds the buffer with `viewSharedMapping`, and posts back copies
 * of those ranges so the test can compare them with the file on disk.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import { type SharedMapping, viewSharedMapping } from "../../ffi/mmap.ts";

/** What the test posts: the shared mapping and `[offset, length]` ranges to read. */
export interface MmapWorkerRequest {
  shared: SharedMapping;
  ranges: [number, number][];
}

/** What the worker posts back. */
export type MmapWorkerReply =
  | { ok: true; byteLength: number; slices: Uint8Array[] }
  | { ok: false; message: string };

self.onmessage = (event: MessageEvent<MmapWorkerRequest>) => {
  const { shared, ranges } = event.data;
  let reply: MmapWorkerReply;
  try {
    const buffer = viewSharedMapping(shared);
    const slices = ranges.map(([offset, length]) => new Uint8Array(buffer, offset, length).slice());
    reply = { ok: true, byteLength: buffer.byteLength, slices };
  } catch (error) {
    reply = { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  self.postMessage(reply);
};
