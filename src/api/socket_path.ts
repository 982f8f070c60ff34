/**
 * Checks an API socket path before binding, as Firecracker does: any file already at the path
 * is refused (Firecracker never removes one; its guide runs `rm -f` first). The message says
 * which case it is, so the user knows whether removing it is safe.
 *
 * @module
 */

/**
 * Why `path` cannot be used for a new API socket, or undefined when nothing is there.
 *
 * @example
 * ```ts
 * const why = await socketPathProblem("/tmp/firecracker.socket");
 * if (why) throw new Error(why);
 * ```
 */
export async function socketPathProblem(path: string): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    return `The API socket path ${path} cannot be checked: ${(e as Error).message}`;
  }
  if (!info.isSocket) {
    return `The API socket path ${path} exists and is not a socket; choose another path`;
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return `The API socket ${path} is in use by a running process; stop it or choose another path`;
  } catch {
    return `The API socket ${path} is stale (left by a process that has ended); remove it ` +
      `(rm -f ${path}) or choose another path`;
  }
}
