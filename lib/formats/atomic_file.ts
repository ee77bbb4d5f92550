/**
 * Files that appear whole or not at all. Every file llama-bolts writes (a checkpoint, a config,
 * a logits dump) is written to a temporary name in the same folder, `.<name>.<random>.partial`,
 * and renamed to its real name only when complete: an interrupted or failed run leaves no file
 * that looks valid. Temporaries still open are listed here, so that Ctrl+C can remove them
 * ({@linkcode removeTemporaries}) before the process exits.
 *
 * @example
 * ```ts
 * import { AtomicFile, writeFileAtomic } from "./atomic_file.ts";
 *
 * await writeFileAtomic("/tmp/params.json", '{"dim": 64}\n');
 *
 * using file = AtomicFile.open("/tmp/logits.f32"); // checks the folder, opens the temporary
 * file.write(new Uint8Array(16));
 * file.commit(); // renamed into place; without commit, disposing removes the temporary
 * ```
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { OutputError } from "../errors.ts";
import { statOrUndefined } from "../files.ts";
import { excerpt } from "./excerpt.ts";

/** Temporaries written but not yet renamed or removed. */
const temporaries = new Set<string>();

/**
 * A fresh temporary name beside `path`: hidden, marked `.partial`, unique per call.
 *
 * @param path The file's final path.
 * @returns `<folder>/.<name>.<8 hex digits>.partial`.
 */
export function temporaryPath(path: string): string {
  const random = crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0");
  return join(dirname(path), `.${basename(path)}.${random}.partial`);
}

/**
 * Records a temporary as open, so that {@linkcode removeTemporaries} removes it.
 *
 * @param path The temporary's path.
 */
export function trackTemporary(path: string): void {
  temporaries.add(resolve(path));
}

/**
 * Records a temporary as renamed or removed.
 *
 * @param path The temporary's path.
 */
export function forgetTemporary(path: string): void {
  temporaries.delete(resolve(path));
}

/**
 * Removes every temporary still open (on Ctrl+C, just before the process exits).
 *
 * @returns How many were removed.
 */
export function removeTemporaries(): number {
  let removed = 0;
  for (const path of temporaries) {
    try {
      Deno.removeSync(path);
      removed++;
    } catch {
      // already gone
    }
  }
  temporaries.clear();
  return removed;
}

/** The temporaries still open (for tests). */
export function openTemporaries(): string[] {
  return [...temporaries];
}

/**
 * Checks that a file can be written at `path`: its folder exists and is a folder, and no
 * folder has the file's name. (Whether the folder is writable shows when the temporary is
 * opened.)
 *
 * @param path The destination.
 * @param what What the file is, for messages (e.g. `--logits-out`).
 * @throws {OutputError} Naming the path and the fix.
 */
export function checkDestination(path: string, what: string): void {
  const folder = dirname(resolve(path));
  const folderInfo = statOrUndefined(folder);
  if (folderInfo === undefined || !folderInfo.isDirectory) {
    throw new OutputError(
      `${what}: expected the folder ${excerpt(folder)} to exist, found ${
        folderInfo === undefined ? "nothing there" : "a file"
      }`,
      { path, fix: `create the folder first (mkdir -p ${folder}), or choose another path` },
    );
  }
  if (statOrUndefined(path)?.isDirectory) {
    throw new OutputError(`${what}: expected a file name, found a folder`, {
      path,
      fix: "name a file inside that folder instead",
    });
  }
}

/** Opens a fresh temporary for writing; an OutputError when the folder refuses it. */
function openTemporary(path: string, what: string): { temp: string; file: Deno.FsFile } {
  const temp = temporaryPath(path);
  try {
    const file = Deno.openSync(temp, { write: true, createNew: true });
    trackTemporary(temp);
    return { temp, file };
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotFound) {
      throw new OutputError(`${what}: cannot create a file in ${dirname(resolve(path))}`, {
        path,
        fix: "choose a folder you can write to",
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Writes a whole file atomically: a temporary in the same folder, renamed into place.
 *
 * @param path The destination.
 * @param data The contents (text is written as UTF-8).
 * @param what What the file is, for messages.
 * @throws {OutputError} When the folder is missing or `path` is a folder.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  what: string = basename(path),
): Promise<void> {
  checkDestination(path, what);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const { temp, file } = openTemporary(path, what);
  try {
    try {
      let done = 0;
      while (done < bytes.length) done += await file.write(bytes.subarray(done));
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
    forgetTemporary(temp);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    forgetTemporary(temp);
    throw error;
  }
}

/**
 * Copies a file atomically (a temporary copy, renamed into place).
 *
 * @param source The file to copy.
 * @param path The destination.
 */
export async function copyFileAtomic(source: string, path: string): Promise<void> {
  checkDestination(path, basename(path));
  const temp = temporaryPath(path);
  trackTemporary(temp);
  try {
    await Deno.copyFile(source, temp);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  } finally {
    forgetTemporary(temp);
  }
}

/**
 * A file written piece by piece that appears at its path only on {@linkcode AtomicFile.commit}.
 * Disposing it without a commit removes the temporary.
 */
export class AtomicFile implements Disposable {
  /** The destination. */
  readonly path: string;
  /** The temporary being written. */
  readonly temporaryPath: string;
  #file: Deno.FsFile | undefined;

  private constructor(path: string, temp: string, file: Deno.FsFile) {
    this.path = path;
    this.temporaryPath = temp;
    this.#file = file;
  }

  /**
   * Checks the destination and opens a temporary beside it.
   *
   * @param path The destination.
   * @param what What the file is, for messages (e.g. `--logits-out`).
   * @returns The open file.
   * @throws {OutputError} When the folder is missing, `path` is a folder, or the folder
   * refuses a new file.
   */
  static open(path: string, what: string = basename(path)): AtomicFile {
    checkDestination(path, what);
    const { temp, file } = openTemporary(path, what);
    return new AtomicFile(path, temp, file);
  }

  /**
   * Appends bytes.
   *
   * @param bytes What to write.
   */
  write(bytes: Uint8Array): void {
    if (this.#file === undefined) throw new Error(`${this.path}: the file is closed`);
    let done = 0;
    while (done < bytes.length) done += this.#file.writeSync(bytes.subarray(done));
  }

  /** Closes the temporary and renames it into place. */
  commit(): void {
    if (this.#file === undefined) throw new Error(`${this.path}: the file is closed`);
    this.#file.close();
    this.#file = undefined;
    try {
      Deno.renameSync(this.temporaryPath, this.path);
    } catch (error) {
      this.#remove();
      throw error;
    }
    forgetTemporary(this.temporaryPath);
  }

  /** Closes and removes the temporary (nothing appears at the path). Idempotent. */
  abort(): void {
    if (this.#file === undefined) return;
    this.#file.close();
    this.#file = undefined;
    this.#remove();
  }

  #remove(): void {
    try {
      Deno.removeSync(this.temporaryPath);
    } catch {
      // already gone
    }
    forgetTemporary(this.temporaryPath);
  }

  [Symbol.dispose](): void {
    this.abort();
  }
}
