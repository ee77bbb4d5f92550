/**
 * What is at a path: one small set of checks that every module shares, so that "not found"
 * and "a folder on the way is a file" mean "nothing there" everywhere, and any other failure
 * (a permission refused) is thrown rather than taken for absence.
 *
 * @example
 * ```ts
 * import { isDirectory, isFile, pathExists } from "./files.ts";
 *
 * isFile("/models/Llama3.2-1B/consolidated.00.pth"); // true when the weights are there
 * isDirectory("/models/Llama3.2-1B"); // true
 * pathExists("/models/none"); // false
 * ```
 *
 * @module
 */

/**
 * What is at `path`, following symbolic links, or `undefined` for nothing.
 *
 * @param path A file or folder path.
 * @returns Its file info, or `undefined` when nothing is there.
 * @throws {Deno.errors.PermissionDenied} And any error other than "not found".
 */
export function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

/**
 * Whether something (a file, a folder, a device) is at `path`.
 *
 * @param path A path.
 * @returns `true` when something is there.
 */
export function pathExists(path: string): boolean {
  return statOrUndefined(path) !== undefined;
}

/**
 * Whether a regular file is at `path`.
 *
 * @param path A path.
 * @returns `true` for a file (or a link to one).
 */
export function isFile(path: string): boolean {
  return statOrUndefined(path)?.isFile === true;
}

/**
 * Whether a folder is at `path`.
 *
 * @param path A path.
 * @returns `true` for a folder (or a link to one).
 */
export function isDirectory(path: string): boolean {
  return statOrUndefined(path)?.isDirectory === true;
}
