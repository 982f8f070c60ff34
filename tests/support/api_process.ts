/**
 * Runs `denovmm api` (or `run --api-sock`) as a child process, the way an orchestrator does,
 * with a fetch client on its socket and its console output collected.
 *
 * @module
 */

import { denovmmCommand } from "./cli_process.ts";

/** A `denovmm` process serving the API. */
export interface ApiProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  socketPath: string;
  /** Console (stdout) so far. */
  stdout(): string;
  /** Logs (stderr) so far. */
  stderr(): string;
  /** Resolves once stdout contains `marker`; rejects after `ms`. */
  waitFor(marker: string | RegExp, ms: number): Promise<void>;
  /** Writes to the process's stdin (the guest console). */
  type(text: string): Promise<void>;
  /** One API request; `body` objects go as JSON. */
  req(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> | undefined }>;
  /** The exit status, once the process ends. */
  status: Promise<Deno.CommandStatus>;
}

/**
 * Starts `denovmm <args>` and waits until `socketPath` accepts connections.
 *
 * @example
 * ```ts
 * await using p = await spawnApi(["api", "--api-sock", sock], sock);
 * ```
 */
export async function spawnApi(
  args: string[],
  socketPath: string,
  o: { cwd?: string } = {},
): Promise<ApiProcess> {
  const child = denovmmCommand(args, { cwd: o.cwd, stdin: "piped" }).spawn();
  const dec = new TextDecoder();
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const chunk of s) {
      add(dec.decode(chunk, { stream: true }));
      for (const w of waiters) w();
    }
  };
  const pumps = Promise.all([
    pump(child.stdout, (t) => (out += t)),
    pump(child.stderr, (t) => (err += t)),
  ]);
  const status = child.status.then(async (s) => {
    await pumps;
    for (const w of waiters) w();
    return s;
  });
  let ended = false;
  status.then(() => (ended = true));
  const stdin = child.stdin.getWriter();
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });

  const waitFor = (marker: string | RegExp, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const has = () => typeof marker === "string" ? out.includes(marker) : marker.test(out);
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${marker}; stdout tail:\n${
              out.slice(-3000)
            }\nstderr tail:\n${err.slice(-3000)}`,
          ),
        );
      }, ms);
      const check = () => {
        if (has()) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        } else if (ended) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`the process ended before ${marker}; stderr:\n${err.slice(-3000)}`));
        }
      };
      waiters.add(check);
      check();
    });

  // The socket appears once the server listens.
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      (await Deno.connect({ transport: "unix", path: socketPath })).close();
      break;
    } catch {
      if (ended || Date.now() > end) {
        throw new Error(`denovmm never listened on ${socketPath}; stderr:\n${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return {
    child,
    socketPath,
    stdout: () => out,
    stderr: () => err,
    waitFor,
    status,
    async type(text) {
      await stdin.write(new TextEncoder().encode(text));
    },
    async req(method, path, body) {
      const r = await fetch(`http://localhost${path}`, {
        method,
        client,
        body: body === undefined
          ? undefined
          : typeof body === "string"
          ? body
          : JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, json: text.length > 0 ? JSON.parse(text) : undefined };
    },
    async [Symbol.asyncDispose]() {
      client.close();
      if (!ended) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await status;
      try {
        await stdin.close();
      } catch { /* closed with the process */ }
    },
  };
}

/**
 * The resident set size of process `pid` in bytes (VmRSS from /proc).
 *
 * @example
 * ```ts
 * const rss = rssOf(child.pid);
 * ```
 */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  if (m === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}
