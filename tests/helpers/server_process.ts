/**
 * A `llama serve` subprocess for tests: started with the permissions of the `serve` task in
 * deno.json, but with `--allow-net` narrowed to the one loopback port it was given (a free
 * port found first), so the tests also show that the server needs nothing more.
 *
 * {@linkcode startServer} resolves once `/health` answers 200 and records what `/health`
 * answered before that (503 while loading). {@linkcode ServerProcess.stop} sends SIGTERM and
 * returns the exit code and everything the server wrote to stderr.
 *
 * @example
 * ```ts
 * import { startServer } from "./helpers/server_process.ts";
 * import { scriptedModelDir } from "./helpers/cli_model.ts";
 *
 * const server = await startServer(["--model", await scriptedModelDir()]);
 * const response = await fetch(`${server.origin}/v1/models`);
 * console.log(await response.json());
 * const { code, stderr } = await server.stop();
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { REPO_DIR, taskPermissions } from "./cli_model.ts";

/** A running server. */
export interface ServerProcess {
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** `http://127.0.0.1:PORT/v1`, the OpenAI base URL. */
  readonly baseUrl: string;
  /** The process id (for its memory in /proc). */
  readonly pid: number;
  /** Statuses `/health` answered before the first 200. */
  readonly healthBeforeReady: readonly number[];
  /** Stderr so far. */
  stderr(): string;
  /** Sends SIGTERM (unless told another signal) and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
}

/**
 * A free loopback port: listen on port 0, note the port, close.
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Starts `main.ts serve --host 127.0.0.1 --port P ...args` and waits until it is ready.
 *
 * @param args Arguments after `serve` (at least `--model DIR`).
 * @param timeoutMs Give up after this long.
 * @returns The running server.
 */
export async function startServer(args: string[], timeoutMs = 20_000): Promise<ServerProcess> {
  const port = freePort();
  const permissions = taskPermissions("serve").map((flag) =>
    flag.startsWith("--allow-net") ? `--allow-net=127.0.0.1:${port}` : flag
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissions,
      join(REPO_DIR, "main.ts"),
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      ...args,
    ],
    cwd: REPO_DIR,
    env: { LLAMA_MODEL: "", NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const origin = `http://127.0.0.1:${port}`;
  const healthBeforeReady: number[] = [];
  const deadline = Date.now() + timeoutMs;
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => exited = status);
  while (true) {
    if (exited) {
      await reading;
      throw new Error(`the server exited with ${exited.code} before it was ready:\n${stderr}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      await reading;
      throw new Error(`the server was not ready in ${timeoutMs} ms:\n${stderr}`);
    }
    try {
      const response = await fetch(`${origin}/health`);
      await response.body?.cancel();
      if (response.status === 200) break;
      healthBeforeReady.push(response.status);
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return {
    origin,
    baseUrl: `${origin}/v1`,
    pid: child.pid,
    healthBeforeReady,
    stderr: () => stderr,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!exited) child.kill(signal);
      const status = await child.status;
      await reading;
      return { code: status.code, stderr };
    },
  };
}

/**
 * Resident memory of a process, from `ps` (Deno reads `/proc/PID` only with --allow-all).
 *
 * @param pid The process.
 * @returns Bytes.
 */
export async function residentBytes(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] })
    .output();
  const kb = Number(new TextDecoder().decode(stdout).trim());
  if (!Number.isFinite(kb) || kb <= 0) throw new Error(`ps found no process ${pid}`);
  return kb * 1024;
}
