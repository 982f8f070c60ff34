/**
 * The tap backend: an existing tap interface, attached by name through `/dev/net/tun` with
 * `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR` and a 12-byte vnet header, nonblocking, read and written
 * with readv/writev straight from and into guest memory. Readiness comes from the machine's
 * epoll {@link EventLoop}.
 *
 * denovmm never creates a tap here: TUNSETIFF on a name that does not exist would silently make
 * a new, unconfigured one, so a missing tap is reported instead (see `tap_setup.ts` for a helper
 * that creates and removes taps).
 *
 * @module
 */

import { errno, ErrnoError, errnoName } from "../../../ffi/errno.ts";
import { IFF_TUN_FLAGS, TUN_IOCTLS } from "../../../ffi/kvm_ioctls.ts";
import {
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
} from "../../../ffi/libc.ts";
import type { EventLoop } from "../../vmm/event_loop.ts";
import type { NetBackend, NetBackendHandlers } from "./backend.ts";
import { NET_HDR_SIZE } from "./header.ts";
import type { IoVecs } from "./iovecs.ts";
import { inNetns } from "./netns.ts";

/** The tun/tap clone device. */
export const TUN_DEVICE = "/dev/net/tun";
/** Longest interface name (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;

const IFREQ_SIZE = 40;
const EPERM = 1;
const ENOENT = 2;
const EACCES = 13;
const EBUSY = 16;
const EINVAL = 22;
const ENODEV = 19;

/** A tap that cannot be used, in plain words (a user error: the CLI exits 2). */
export class TapError extends Error {
  /**
   * The error, message first.
   *
   * @example `throw new TapError("Cannot open tap tap0: no such network interface")`
   */
  constructor(message: string) {
    super(message);
    this.name = "TapError";
  }
}

/** The part of the event loop a tap needs. */
export type FdWatcher = Pick<EventLoop, "add" | "modify" | "remove">;

/** Options of {@link TapBackend.open}. */
export interface TapOptions {
  /** The loop that watches the tap fd (required before {@link TapBackend.attach}). */
  loop?: FdWatcher;
  /** Attach to the tap inside this named network namespace (needs CAP_SYS_ADMIN). */
  netns?: string;
}

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

/**
 * Checks an interface name the way the kernel will (1 to 15 bytes, no `/`, no whitespace).
 *
 * @example
 * ```ts
 * checkIfName("tap0"); // ok
 * checkIfName("a/b"); // throws TapError
 * ```
 */
export function checkIfName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0 || bytes > IFNAME_MAX || /[\s/:]/.test(name) || name === "." || name === "..") {
    throw new TapError(
      `"${name}" is not a network interface name (1 to ${IFNAME_MAX} characters, no spaces, / or :)`,
    );
  }
}

/**
 * One tap interface.
 *
 * @example
 * ```ts
 * const tap = TapBackend.open("tap0", { loop });
 * const net = new NetDevice("net0", tap);
 * // ... later
 * tap.close();
 * ```
 */
export class TapBackend implements NetBackend {
  readonly name: string;
  readonly #fd: number;
  readonly #loop?: FdWatcher;
  #handlers?: NetBackendHandlers;
  #interest = 0;
  #closed = false;
  #failed = false;

  private constructor(name: string, fd: number, loop?: FdWatcher) {
    this.name = name;
    this.#fd = fd;
    this.#loop = loop;
  }

  /**
   * Attaches to the existing tap `name`. Throws {@link TapError} saying what is wrong: no such
   * interface, not a tap, in use, no permission, no `/dev/net/tun`.
   *
   * @example
   * ```ts
   * const tap = TapBackend.open("tap0", { loop, netns: "vm1" });
   * ```
   */
  static open(name: string, o: TapOptions = {}): TapBackend {
    checkIfName(name);
    const fd = o.netns === undefined ? attach(name) : inNetns(o.netns, () => attach(name));
    return new TapBackend(name, fd, o.loop);
  }

  /** The tap fd (for tests and benchmarks that want raw access). */
  get fd(): number {
    return this.#fd;
  }

  attach(handlers: NetBackendHandlers): void {
    if (this.#loop === undefined) throw new Error(`tap ${this.name} was opened without a loop`);
    if (this.#handlers === undefined) {
      this.#loop.add(this.#fd, (ev) => this.#onEvent(ev), 0);
      this.#interest = 0;
    } else {
      this.setInterest(false, false);
    }
    this.#handlers = handlers;
  }

  setInterest(readable: boolean, writable: boolean): void {
    const want = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    if (want === this.#interest || this.#handlers === undefined || this.#failed || this.#closed) {
      return;
    }
    this.#interest = want;
    this.#loop!.modify(this.#fd, want);
  }

  readv(iov: IoVecs): number {
    const n = libc.symbols.readv(this.#fd, iov.bytes, iov.count);
    return n >= 0 ? n : -errno();
  }

  writev(iov: IoVecs): number {
    const n = libc.symbols.writev(this.#fd, iov.bytes, iov.count);
    return n >= 0 ? n : -errno();
  }

  setOffload(tunFlags: number): void {
    if (this.#closed || this.#failed) return;
    const r = libc.symbols.ioctl_int(this.#fd, BigInt(TUN_IOCTLS.TUNSETOFFLOAD), BigInt(tunFlags));
    if (r < 0) {
      throw new ErrnoError(`TUNSETOFFLOAD 0x${tunFlags.toString(16)} on ${this.name}`, errno());
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handlers !== undefined && !this.#failed) this.#loop!.remove(this.#fd);
    libc.symbols.close(this.#fd);
  }

  #onEvent(ev: number): void {
    const h = this.#handlers;
    if (h === undefined || this.#closed || this.#failed) return;
    if (ev & (EPOLLERR | EPOLLHUP)) {
      // The tap was deleted under us: the fd reports an error for ever (level-triggered), so
      // stop watching it instead of spinning.
      this.#failed = true;
      this.#loop!.remove(this.#fd);
      h.failed(`tap ${this.name} is gone (deleted while the VM ran?)`);
      return;
    }
    if (ev & EPOLLIN & this.#interest) h.readable();
    if (ev & EPOLLOUT & this.#interest) h.writable();
  }
}

// Attaches a new /dev/net/tun fd to the existing tap `name` and sets the 12-byte vnet header.
function attach(name: string): number {
  const what = `Cannot open tap ${name}`;
  const index = libc.symbols.if_nametoindex(cstr(name));
  if (index === 0) {
    throw new TapError(
      `${what}: no such network interface (create it with: ip tuntap add dev ${name} mode tap)`,
    );
  }
  const fd = libc.symbols.open(cstr(TUN_DEVICE), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    const e = errno();
    if (e === ENOENT || e === ENODEV) {
      throw new TapError(`${what}: ${TUN_DEVICE} is missing (load the tun module: modprobe tun)`);
    }
    if (e === EACCES || e === EPERM) {
      throw new TapError(`${what}: no permission to open ${TUN_DEVICE}`);
    }
    throw new TapError(`${what}: ${new ErrnoError(`open ${TUN_DEVICE}`, e).message}`);
  }
  try {
    const base = IFF_TUN_FLAGS.TAP | IFF_TUN_FLAGS.NO_PI | IFF_TUN_FLAGS.VNET_HDR;
    let e = setIff(fd, name, base);
    // A tap created with `multi_queue` only takes fds that ask for it.
    if (e === EINVAL) e = setIff(fd, name, base | IFF_TUN_FLAGS.MULTI_QUEUE);
    switch (e) {
      case 0:
        break;
      case EPERM:
        throw new TapError(
          `${what}: permission denied: the tap belongs to another user or group, and attaching to it needs CAP_NET_ADMIN (run as root, or create it with: ip tuntap add dev ${name} mode tap user $USER)`,
        );
      case EBUSY:
        throw new TapError(`${what}: it is in use by another process`);
      case EINVAL:
        throw new TapError(`${what}: ${name} is not a tap device`);
      default:
        throw new TapError(`${what}: TUNSETIFF failed with ${errnoName(e)}`);
    }
    // TUNSETIFF creates an interface when the name is free: if ours vanished between the check
    // and the attach, the fd now holds a fresh tap, which closing the fd removes again.
    if (libc.symbols.if_nametoindex(cstr(name)) !== index) {
      throw new TapError(`${what}: the interface disappeared while attaching`);
    }
    const size = new Int32Array([NET_HDR_SIZE]);
    if (
      libc.symbols.ioctl_ptr(fd, BigInt(TUN_IOCTLS.TUNSETVNETHDRSZ), new Uint8Array(size.buffer)) <
        0
    ) {
      throw new TapError(`${what}: TUNSETVNETHDRSZ failed with ${errnoName(errno())}`);
    }
    // No offloads until a driver accepts some (the device sets them on activation).
    if (libc.symbols.ioctl_int(fd, BigInt(TUN_IOCTLS.TUNSETOFFLOAD), 0n) < 0) {
      throw new TapError(`${what}: TUNSETOFFLOAD failed with ${errnoName(errno())}`);
    }
    return fd;
  } catch (err) {
    libc.symbols.close(fd);
    throw err;
  }
}

// TUNSETIFF; returns 0 or the errno.
function setIff(fd: number, name: string, flags: number): number {
  const req = new Uint8Array(IFREQ_SIZE);
  req.set(new TextEncoder().encode(name));
  new DataView(req.buffer).setUint16(16, flags, true);
  return libc.symbols.ioctl_ptr(fd, BigInt(TUN_IOCTLS.TUNSETIFF), req) < 0 ? errno() : 0;
}
