/**
 * Incremental UTF-8 decoding for streamed tokens.
 *
 * A token is a run of bytes, not of characters: an emoji (4 bytes) is often split over two or
 * more tokens. {@linkcode Utf8Stream} turns bytes into text as they arrive, holding back the
 * bytes of a character that is not complete yet, so a half emoji is never printed. A byte
 * becomes U+FFFD only once it can no longer be part of a valid character — the WHATWG
 * Encoding Standard's UTF-8 decoder, run one byte at a time, so the concatenated output equals
 * `new TextDecoder().decode(allBytes)`.
 *
 * @example
 * ```ts
 * import { Utf8Stream } from "./utf8_stream.ts";
 *
 * const stream = new Utf8Stream();
 * stream.push(new Uint8Array([0x48, 0x69, 0xf0, 0x9f])); // "Hi" (2 bytes of 😀 held back)
 * stream.push(new Uint8Array([0x98, 0x80])); // "😀"
 * stream.flush(); // "" (nothing pending)
 * ```
 *
 * @module
 */

const REPLACEMENT = 0xfffd;

/** A UTF-8 decoder that is fed bytes in pieces and returns the complete characters so far. */
export class Utf8Stream {
  // Decoder state (WHATWG "UTF-8 decoder"): the code point so far, continuation bytes still
  // needed and already seen, and the allowed range of the next continuation byte.
  #codePoint = 0;
  #needed = 0;
  #seen = 0;
  #lower = 0x80;
  #upper = 0xbf;

  /** Bytes held back: the start of a character that is not complete yet. */
  get pending(): number {
    return this.#needed === 0 ? 0 : this.#seen + 1;
  }

  /**
   * Decodes more bytes.
   *
   * @param bytes The next bytes of the stream.
   * @returns The text of every character these bytes complete (possibly empty).
   */
  push(bytes: Uint8Array): string {
    const out: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (this.#needed === 0) {
        if (byte <= 0x7f) {
          out.push(byte);
        } else if (byte >= 0xc2 && byte <= 0xdf) {
          this.#needed = 1;
          this.#codePoint = byte & 0x1f;
        } else if (byte >= 0xe0 && byte <= 0xef) {
          if (byte === 0xe0) this.#lower = 0xa0; // no overlong 3-byte forms
          if (byte === 0xed) this.#upper = 0x9f; // no surrogates
          this.#needed = 2;
          this.#codePoint = byte & 0x0f;
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          if (byte === 0xf0) this.#lower = 0x90; // no overlong 4-byte forms
          if (byte === 0xf4) this.#upper = 0x8f; // nothing above U+10FFFF
          this.#needed = 3;
          this.#codePoint = byte & 0x07;
        } else {
          out.push(REPLACEMENT); // a byte that never starts a character
        }
        continue;
      }
      if (byte < this.#lower || byte > this.#upper) {
        // The pending character can never complete: replace it, and read this byte afresh.
        this.#reset();
        out.push(REPLACEMENT);
        i--;
        continue;
      }
      this.#lower = 0x80;
      this.#upper = 0xbf;
      this.#codePoint = (this.#codePoint << 6) | (byte & 0x3f);
      if (++this.#seen === this.#needed) {
        out.push(this.#codePoint);
        this.#reset();
      }
    }
    return fromCodePoints(out);
  }

  /**
   * Ends the stream: an incomplete character left over becomes one U+FFFD.
   *
   * @returns `"\uFFFD"` if bytes were pending, else `""`.
   */
  flush(): string {
    if (this.#needed === 0) return "";
    this.#reset();
    return String.fromCodePoint(REPLACEMENT);
  }

  #reset(): void {
    this.#codePoint = 0;
    this.#needed = 0;
    this.#seen = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }
}

function fromCodePoints(codePoints: number[]): string {
  let text = "";
  for (let i = 0; i < codePoints.length; i += 4096) {
    text += String.fromCodePoint(...codePoints.slice(i, i + 4096));
  }
  return text;
}
