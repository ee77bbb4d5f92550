/**
 * Checks the book in `docs/` (and the README's links into it) against the code, so that the
 * chapters cannot rot silently:
 *
 * 1. Every relative link in `docs/*.md` and `README.md` resolves to a file or folder of the
 *    repository, and a `#fragment` names a heading of the target Markdown file.
 * 2. Every repository path written in backticks outside code blocks (`` `lib/model/config.ts` ``)
 *    exists, and every symbol named with one, "`` `Transformer.forward` in `lib/model/transformer.ts` ``",
 *    is declared in that file: the first name as a class, function, interface, type or const
 *    (`def`/`class` in Python), each further name as a member or key. A backticked snippet that
 *    is not a name ("`` `matMul(s.q, s.xb, w.wq, n)` in `lib/model/transformer.ts` ``") must
 *    appear in the file verbatim.
 * 3. Every script in `docs/examples/*.ts` is linked from a chapter and runs (as a runnable
 *    command of its chapter, or else on its own here) and prints something.
 * 4. Every fenced block marked ` ```sh runnable ` runs, as one `sh -e` script from the repository
 *    root, on the demo model (`tools/demo.ts`: the `tiny` preset, seed 0, written to a temporary
 *    folder here) with `LLAMA_MODEL` pointing at it, as the book tells the reader to set it.
 *
 * Chapters are found by globbing, so a chapter added later is checked without touching this
 * file. The conventions are described for writers in `docs/README.md`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { PRESETS, writeSyntheticModel } from "../lib/model/synthetic.ts";
import { REPO_DIR, runDeno } from "./helpers/cli_model.ts";
import { tokenizerPath } from "./helpers/llama3_tokenizer.ts";

const DOCS_DIR = join(REPO_DIR, "docs");
const EXAMPLES_DIR = join(DOCS_DIR, "examples");

/** Permissions an example script gets (the book says so next to each command). */
export const EXAMPLE_PERMISSIONS = ["--allow-read", "--allow-env", "--allow-ffi"];

/** A fenced code block: its info string (`sh runnable`) and text. */
interface Fence {
  info: string;
  text: string;
  line: number;
}

/** A Markdown file split into prose (code blocks blanked out) and its fenced blocks. */
interface MarkdownFile {
  path: string;
  prose: string;
  fences: Fence[];
}

function readMarkdown(path: string): MarkdownFile {
  const lines = Deno.readTextFileSync(path).split("\n");
  const prose: string[] = [];
  const fences: Fence[] = [];
  let open: { marker: string; info: string; start: number; body: string[] } | undefined;
  lines.forEach((line, i) => {
    const fence = line.match(/^\s*(`{3,}|~{3,})(.*)$/);
    if (open) {
      if (fence && fence[1].startsWith(open.marker) && fence[2].trim() === "") {
        fences.push({ info: open.info, text: open.body.join("\n"), line: open.start + 1 });
        open = undefined;
      } else {
        open.body.push(line);
      }
      prose.push("");
    } else if (fence) {
      open = { marker: fence[1], info: fence[2].trim(), start: i, body: [] };
      prose.push("");
    } else {
      prose.push(line);
    }
  });
  return { path, prose: prose.join("\n"), fences };
}

function markdownFiles(): MarkdownFile[] {
  const files = [...Deno.readDirSync(DOCS_DIR)]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => join(DOCS_DIR, entry.name))
    .sort();
  return [join(REPO_DIR, "README.md"), ...files].map(readMarkdown);
}

function exampleScripts(): string[] {
  try {
    return [...Deno.readDirSync(EXAMPLES_DIR)]
      .filter((entry) => entry.isFile && entry.name.endsWith(".ts"))
      .map((entry) => join(EXAMPLES_DIR, entry.name))
      .sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

function where(file: MarkdownFile, index: number): string {
  const line = file.prose.slice(0, index).split("\n").length;
  return `${relative(REPO_DIR, file.path)}:${line}`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function headingSlugs(path: string): Set<string> {
  const slugs = new Set<string>();
  const counts = new Map<string, number>();
  for (const line of readMarkdown(path).prose.split("\n")) {
    const heading = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (!heading) continue;
    const slug = headingSlug(heading[1]);
    const seen = counts.get(slug) ?? 0;
    slugs.add(seen === 0 ? slug : `${slug}-${seen}`);
    counts.set(slug, seen + 1);
  }
  return slugs;
}

Deno.test("docs: every relative link resolves", () => {
  const problems: string[] = [];
  for (const file of markdownFiles()) {
    // Code spans are not links: blank them out (same length, so line numbers stay).
    const text = file.prose.replace(/`[^`\n]+`/g, (span) => " ".repeat(span.length));
    for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = match[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [pathPart, fragment] = target.split("#");
      const path = pathPart === "" ? file.path : resolve(dirname(file.path), pathPart);
      if (!exists(path)) {
        problems.push(`${where(file, match.index)}: link to '${target}': no such file`);
      } else if (fragment && path.endsWith(".md") && !headingSlugs(path).has(fragment)) {
        problems.push(`${where(file, match.index)}: link to '${target}': no such heading`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

const ROOT_FILES = new Set(["main.ts", "deno.json", "README.md", "DEVELOPERS.md"]);
const REPO_PATH = /^(?:lib|ffi|tests|tools|bench|docs|\.ci)\/[\w./-]*$/;

function isRepoPath(text: string): boolean {
  return ROOT_FILES.has(text) || REPO_PATH.test(text);
}

const IDENTIFIER_CHAIN = /^[A-Za-z_$][\w$]*(?:\.#?[A-Za-z_$][\w$]*)*(?:\(\))?$/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether `source` declares `name` at the top level (TypeScript or Python). */
function declares(source: string, name: string): boolean {
  const n = escapeRegExp(name);
  return new RegExp(
    `(?:\\b(?:class|interface|function\\*?|const|let|var|type|enum|namespace|def)\\s+${n}\\b)` +
      `|(?:^${n}\\s*=)|(?:export\\s*\\{[^}]*\\b${n}\\b)`,
    "m",
  ).test(source);
}

/** Whether `source` declares `name` as a member: method, property, getter, object key. */
function declaresMember(source: string, name: string): boolean {
  const n = escapeRegExp(name.replace(/^#/, ""));
  return new RegExp(
    `^\\s*(?:(?:export|public|private|protected|static|readonly|async|override|declare|` +
      `abstract|get|set)\\s+)*\\*?#?["']?${n}["']?\\s*[(<:=?!]`,
    "m",
  ).test(source) || new RegExp(`\\bdef\\s+${n}\\b|\\bself\\.${n}\\s*=`).test(source);
}

/** Problems with one "`symbol` in `path`" reference, or none. */
function checkSymbol(symbol: string, path: string): string | undefined {
  const source = Deno.readTextFileSync(join(REPO_DIR, path));
  if (!IDENTIFIER_CHAIN.test(symbol)) {
    return source.includes(symbol) ? undefined : `'${symbol}' does not appear in ${path}`;
  }
  const [first, ...members] = symbol.replace(/\(\)$/, "").split(".");
  if (!declares(source, first) && !(members.length === 0 && declaresMember(source, first))) {
    return `${path} declares no '${first}'`;
  }
  const missing = members.find((member) => !declaresMember(source, member));
  return missing ? `${path} has no member '${missing}' (of '${symbol}')` : undefined;
}

Deno.test("docs: every file and symbol named in backticks exists", () => {
  const problems: string[] = [];
  const reference =
    /((?:`[^`\n]+`(?:,\s*|\s+and\s+|\s+or\s+|,\s+and\s+|,\s+or\s+))*`[^`\n]+`)\s+in\s+`([^`\n]+)`/g;
  for (const file of markdownFiles()) {
    // Inline code spans: `` `lib/...` `` must exist.
    for (const match of file.prose.matchAll(/`([^`\n]+)`/g)) {
      const text = match[1].replace(/\/$/, "");
      if (isRepoPath(text) && !text.includes("*") && !exists(join(REPO_DIR, text))) {
        problems.push(`${where(file, match.index)}: '${match[1]}' does not exist`);
      }
    }
    for (const match of file.prose.matchAll(reference)) {
      const path = match[2];
      if (!isRepoPath(path) || !exists(join(REPO_DIR, path))) continue; // reported above
      if (Deno.statSync(join(REPO_DIR, path)).isDirectory) continue;
      for (const name of match[1].matchAll(/`([^`\n]+)`/g)) {
        if (isRepoPath(name[1])) continue;
        const problem = checkSymbol(name[1], path);
        if (problem) problems.push(`${where(file, match.index)}: ${problem}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

let demoModel: Promise<string> | undefined;
/** The demo's model (`tiny` preset, seed 0, bf16, as `tools/demo.ts` writes it), once. */
function demoModelDir(): Promise<string> {
  return demoModel ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "llama-bolts-docs-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
    const { params, tied } = PRESETS.tiny;
    await writeSyntheticModel(join(dir, "demo-tiny"), params, {
      seed: 0,
      dtype: "bf16",
      tied,
      tokenizerPath: await tokenizerPath(),
    });
    return join(dir, "demo-tiny");
  })();
}

/** Runs `jobs` with at most `limit` at a time (most of a job is a process starting up). */
async function inParallel<T>(jobs: (() => Promise<T>)[], limit = 3): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  async function lane() {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, lane));
  return results;
}

function clip(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 600 ? trimmed.slice(0, 600) + " …" : trimmed;
}

/** The fenced blocks marked ` ```sh runnable `, with where they are. */
function runnableBlocks(): (Fence & { where: string })[] {
  return markdownFiles().flatMap((file) =>
    file.fences
      .filter((fence) => /^(?:sh|bash|shell)\s+runnable\b/.test(fence.info))
      .map((fence) => ({ ...fence, where: `${relative(REPO_DIR, file.path)}:${fence.line}` }))
  );
}

Deno.test("docs: every example script runs and is linked from a chapter", async () => {
  const scripts = exampleScripts();
  const chapters = markdownFiles().filter((file) => file.path.startsWith(DOCS_DIR));
  const linked = chapters.map((file) => file.prose).join("\n");
  // A script that a runnable block runs is run by the next test; the others run here.
  const commands = runnableBlocks().map((block) => block.text).join("\n");
  const model = await demoModelDir();
  const problems = await inParallel(scripts.map((script) => async () => {
    const name = relative(DOCS_DIR, script);
    if (!linked.includes(`(${name})`) && !linked.includes(`(./${name})`)) {
      return `${name} is not linked from any chapter`;
    }
    if (commands.includes(`docs/${name}`)) return undefined;
    const result = await runDeno(["run", ...EXAMPLE_PERMISSIONS, script], {
      env: { LLAMA_MODEL: model },
      timeoutMs: 60_000,
    });
    if (result.code !== 0) return `${name} exited with ${result.code}: ${clip(result.stderr)}`;
    if (result.stdout.trim() === "") return `${name} printed nothing`;
    return undefined;
  }));
  assert.deepEqual(problems.filter(Boolean), []);
});

Deno.test("docs: every runnable command runs on the demo model", async () => {
  const blocks = runnableBlocks();
  const model = await demoModelDir();
  const path = `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`;
  const problems = await inParallel(blocks.map((block) => async () => {
    assert(block.text.trim() !== "", `${block.where}: empty runnable block`);
    const output = await new Deno.Command("sh", {
      args: ["-ec", block.text],
      cwd: REPO_DIR,
      env: { LLAMA_MODEL: model, NO_COLOR: "1", PATH: path },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    if (!output.success) return `${block.where}: exited with ${output.code}: ${clip(stderr)}`;
    if (output.stdout.length === 0) return `${block.where}: printed nothing on stdout`;
    return undefined;
  }));
  assert.deepEqual(problems.filter(Boolean), []);
});
