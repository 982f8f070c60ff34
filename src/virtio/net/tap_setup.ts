/**
 * Creating a tap for a VM, and for tests a private network namespace around it, and removing
 * them again: with `await using`, on every exit path of the code that made them (a thrown error
 * included). It drives iproute2's `ip`, needs CAP_NET_ADMIN, and is optional: denovmm itself only
 * attaches to taps that exist.
 *
 * Network namespaces made here are named `PREFIX-PID-RANDOM`, so {@link sweepStaleNetns} can
 * remove the ones a killed process left behind.
 *
 * @example
 * ```ts
 * await using net = await TapSetup.create({ netns: true, address: "10.77.0.1/24" });
 * // ip netns exec ${net.netns} denovmm run --net tap=${net.tap} ...
 * ```
 * @module
 */

/** Prefix of the network namespaces {@link TapSetup.create} makes. */
export const NETNS_PREFIX = "denovmm";

/** Options of {@link TapSetup.create}. */
export interface TapSetupOptions {
  /** Tap name (default `dvtap` + random digits). */
  tap?: string;
  /** Put the tap in a new network namespace: its name, or true for a generated one. */
  netns?: string | boolean;
  /** Host-side address with prefix length ("10.77.0.1/24"). */
  address?: string;
  /** Let this user attach to the tap without CAP_NET_ADMIN. */
  user?: string;
  /** Interface MTU. */
  mtu?: number;
  /** Queue length (also the tap's frame queue towards the VMM). */
  txqueuelen?: number;
  /** IPv6 on the tap (default true); off keeps router solicitations and MLD off a quiet link. */
  ipv6?: boolean;
}

/**
 * Runs `ip ARGS`; throws with ip's message when it fails.
 *
 * @example
 * ```ts
 * await ip(["-n", "vm1", "link", "set", "lo", "up"]);
 * ```
 */
export async function ip(args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error("The `ip` command is missing (install iproute2)");
    }
    throw e;
  }
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`ip ${args.join(" ")} failed: ${msg}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * The named network namespaces (`ip netns list`).
 *
 * @example
 * ```ts
 * (await listNetns()).includes("vm1");
 * ```
 */
export async function listNetns(): Promise<string[]> {
  const out = await ip(["netns", "list"]);
  return out.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.length > 0);
}

/**
 * PIDs of the processes inside network namespace `ns` (`ip netns pids`).
 *
 * @example
 * ```ts
 * assert.deepEqual(await netnsPids("vm1"), []);
 * ```
 */
export async function netnsPids(ns: string): Promise<number[]> {
  const out = await ip(["netns", "pids", ns]);
  return out.split(/\s+/).filter((s) => s.length > 0).map(Number);
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Deletes the namespaces {@link TapSetup.create} made (named `prefix-PID-...`) whose process
 * is gone; returns their names.
 *
 * @example
 * ```ts
 * await sweepStaleNetns(); // before a test makes its own
 * ```
 */
export async function sweepStaleNetns(prefix = NETNS_PREFIX): Promise<string[]> {
  const stale = (await listNetns()).filter((n) => {
    const m = new RegExp(`^${prefix}-(\\d+)-`).exec(n);
    return m !== null && Number(m[1]) !== Deno.pid && !alive(Number(m[1]));
  });
  for (const n of stale) await ip(["netns", "del", n]).catch(() => {});
  return stale;
}

async function disableIpv6(tap: string, netns?: string): Promise<void> {
  const key = `/proc/sys/net/ipv6/conf/${tap}/disable_ipv6`;
  if (netns === undefined) return await Deno.writeTextFile(key, "1");
  // /proc/sys shows the namespace of the writer: write it from inside.
  await ip(["netns", "exec", netns, "sh", "-c", `echo 1 > ${key}`]);
}

const random = () => Math.floor(Math.random() * 1e6).toString().padStart(6, "0");

/** A tap (and maybe its namespace) that exists until {@link TapSetup.remove}. */
export class TapSetup implements AsyncDisposable {
  /** The tap's name. */
  readonly tap: string;
  /** The namespace it lives in, when one was made or given. */
  readonly netns?: string;
  /** The host-side address, when one was set. */
  readonly address?: string;
  readonly #ownsNetns: boolean;
  #removed = false;

  private constructor(tap: string, netns: string | undefined, owns: boolean, address?: string) {
    this.tap = tap;
    this.netns = netns;
    this.#ownsNetns = owns;
    this.address = address;
  }

  /**
   * Creates the tap (vnet_hdr, up), in a new namespace when asked; undoes whatever it made if
   * a step fails.
   *
   * @example
   * ```ts
   * await using t = await TapSetup.create({ tap: "tap0", address: "172.16.0.1/24" });
   * ```
   */
  static async create(o: TapSetupOptions = {}): Promise<TapSetup> {
    const tap = o.tap ?? `dvtap${random()}`;
    const owns = o.netns === true;
    const netns = o.netns === true
      ? `${NETNS_PREFIX}-${Deno.pid}-${random()}`
      : (o.netns || undefined);
    const setup = new TapSetup(tap, netns, owns, o.address);
    const at = netns === undefined ? [] : ["-n", netns];
    try {
      if (owns) {
        await ip(["netns", "add", netns!]);
        await ip([...at, "link", "set", "lo", "up"]);
      }
      await ip([
        ...at,
        "tuntap",
        "add",
        "dev",
        tap,
        "mode",
        "tap",
        "vnet_hdr",
        ...(o.user === undefined ? [] : ["user", o.user]),
      ]);
      if (o.mtu !== undefined) await ip([...at, "link", "set", "dev", tap, "mtu", String(o.mtu)]);
      if (o.txqueuelen !== undefined) {
        await ip([...at, "link", "set", "dev", tap, "txqueuelen", String(o.txqueuelen)]);
      }
      if (o.ipv6 === false) await disableIpv6(tap, netns);
      if (o.address !== undefined) await ip([...at, "addr", "add", o.address, "dev", tap]);
      await ip([...at, "link", "set", "dev", tap, "up"]);
      return setup;
    } catch (e) {
      await setup.remove().catch(() => {}); // the first error is the one to report
      throw e;
    }
  }

  /** Arguments that run a command inside the namespace: `ip netns exec NS` (or nothing). */
  get execPrefix(): string[] {
    return this.netns === undefined ? [] : ["ip", "netns", "exec", this.netns];
  }

  /** Deletes the tap, and the namespace if this made it. Safe to call twice. */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    const at = this.netns === undefined ? [] : ["-n", this.netns];
    const errors: string[] = [];
    await ip([...at, "link", "del", "dev", this.tap]).catch((e) => {
      if (!/Cannot find device|does not exist|No such/.test(String(e))) errors.push(String(e));
    });
    if (this.#ownsNetns) {
      await ip(["netns", "del", this.netns!]).catch((e) => {
        if (!/No such file/.test(String(e))) errors.push(String(e));
      });
    }
    if (errors.length > 0) throw new Error(errors.join("; "));
  }

  /** `await using` support. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove();
  }
}
