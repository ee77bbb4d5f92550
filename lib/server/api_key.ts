/**
 * `--api-key`: requests must carry `Authorization: Bearer KEY`. The key is compared in
 * constant time — both sides are hashed with SHA-256 first, so the comparison always runs over
 * 32 bytes whatever the lengths, and every byte is compared — so that response times say
 * nothing about how much of a guess was right.
 *
 * @example
 * ```ts
 * import { ApiKey } from "./api_key.ts";
 *
 * const key = await ApiKey.create("sk-local");
 * await key.accepts(new Headers({ authorization: "Bearer sk-local" })); // true
 * ```
 *
 * @module
 */

const encoder = new TextEncoder();

/** A required bearer token. */
export class ApiKey {
  readonly #digest: Uint8Array;

  private constructor(digest: Uint8Array) {
    this.#digest = digest;
  }

  /**
   * @param key The key clients must send.
   * @returns The checker.
   */
  static async create(key: string): Promise<ApiKey> {
    return new ApiKey(await sha256(key));
  }

  /**
   * Whether the headers carry the key.
   *
   * @param headers The request's headers.
   * @returns True when `Authorization` is `Bearer` and the key.
   */
  async accepts(headers: Headers): Promise<boolean> {
    const match = /^Bearer (.*)$/i.exec(headers.get("authorization") ?? "");
    const given = await sha256(match ? match[1].trim() : "");
    let difference = match ? 0 : 1;
    for (let i = 0; i < given.length; i++) difference |= given[i] ^ this.#digest[i];
    return difference === 0;
  }
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}
