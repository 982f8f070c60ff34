/**
 * The guest agent run as a host process, its frames on stdin/stdout (`denovmm-agent -`): how the
 * client and the agent are tested together without a VM.
 *
 * @module
 */

import { buildAgent } from "../../guest/agent_build.ts";
import { DEFAULT_SOURCES } from "../../guest/inputs.ts";
import type { AgentChannel } from "./client.ts";

/** True when this host can compile the agent (musl-gcc from Debian's musl-tools). */
export const CAN_BUILD_AGENT: boolean = (() => {
  try {
    return new Deno.Command("musl-gcc", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** A running agent process and its frame channel. */
export interface AgentProcess extends AgentChannel, AsyncDisposable {
  child: Deno.ChildProcess;
  /** The agent's stderr so far (its own diagnostics). */
  stderr(): string;
}

/**
 * Compiles guest/agent/agent.c into `dir` and starts it in `cwd`.
 *
 * @example
 * ```ts
 * await using agent = await startAgentProcess(await Deno.makeTempDir());
 * const client = new AgentClient(agent);
 * ```
 */
export async function startAgentProcess(dir: string): Promise<AgentProcess> {
  const bin = await buildAgent(DEFAULT_SOURCES.agentSource!, dir, `${dir}/build.log`);
  const child = new Deno.Command(bin, {
    args: ["-"],
    cwd: dir,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "";
  const errDone = child.stderr.pipeTo(
    new WritableStream({ write: (b) => void (err += new TextDecoder().decode(b)) }),
  );
  return {
    child,
    readable: child.stdout,
    writable: child.stdin,
    stderr: () => err,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await errDone.catch(() => {});
      await child.stdin.close().catch(() => {});
    },
  };
}
