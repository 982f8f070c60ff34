/**
 * Bounds-checked access to guest RAM. Device and boot code reach guest memory only through
 * {@link GuestMemory}; an address or length that leaves RAM throws {@link GuestMemoryError}
 * instead of touching host memory.
 *
 * @module
 */

import { type RamRange, ramRanges } from "./layout.ts";

/** Thrown when a guest-physical range is not entirely inside one RAM region. */
export class GuestMemoryError extends Error {
  /** Guest-physical start of the rejected access. */
  readonly guestAddr: number;
  /** Length of the rejected access in bytes. */
  readonly length: number;

  /**
   * Describes the rejected access.
   *
   * @example
   * ```ts
   * throw new GuestMemoryError(0x1000_0000, 4);
   * ```
   */
  constructor(guestAddr: number, length: number) {
    super(
      `Guest memory access out of range: 0x${guestAddr.toString(16)} + ${length} bytes ` +
        `is not inside guest RAM`,
    );
    this.name = "GuestMemoryError";
    this.guestAddr = guestAddr;
    this.length = length;
  }
}

/** One RAM region: guest-physical placement plus the host bytes that back it. */
export interface MemoryRegion {
  /** Guest-physical start address. */
  readonly guestAddr: number;
  /** The host bytes (an mmap for a real VM, a plain buffer in tests). */
  readonly bytes: Uint8Array;
  /** Host virtual address of `bytes[0]`, when the region is an mmap (needed by KVM and direct I/O). */
  readonly hostAddr?: bigint;
}

interface Region extends MemoryRegion {
  readonly end: number;
  readonly view: DataView;
  /** `hostAddr` as a number (host addresses fit in 53 bits), NaN when there is none. */
  readonly hostBase: number;
}

/**
 * Guest RAM as a set of non-overlapping regions with bounds-checked typed access.
 *
 * Multi-byte values are little-endian, as on x86. Every access must lie inside a single
 * region; anything else (negative, wrapping, past the end, across the MMIO hole) throws
 * {@link GuestMemoryError}.
 *
 * @example
 * ```ts
 * const mem = GuestMemory.fromBuffers(1 << 20);
 * mem.writeU32(0x1000, 0xdeadbeef);
 * mem.readU32(0x1000); // 0xdeadbeef
 * ```
 */
export class GuestMemory {
  readonly #regions: Region[];

  /**
   * Wraps the given regions (sorted; overlapping regions are refused).
   *
   * @example
   * ```ts
   * new GuestMemory([{ guestAddr: 0, bytes: new Uint8Array(4096) }]);
   * ```
   */
  constructor(regions: readonly MemoryRegion[]) {
    const sorted = [...regions].sort((a, b) => a.guestAddr - b.guestAddr);
    this.#regions = sorted.map((r) => ({
      ...r,
      end: r.guestAddr + r.bytes.byteLength,
      view: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
      hostBase: r.hostAddr === undefined ? NaN : Number(r.hostAddr),
    }));
    for (let i = 1; i < this.#regions.length; i++) {
      if (this.#regions[i].guestAddr < this.#regions[i - 1].end) {
        throw new RangeError("Guest memory regions overlap");
      }
    }
  }

  /**
   * Plain-buffer guest memory with the VM's real layout (MMIO hole included), for tests and
   * tools that need no KVM.
   *
   * @example
   * ```ts
   * const mem = GuestMemory.fromBuffers(64 * 2 ** 20);
   * mem.size; // 67108864
   * ```
   */
  static fromBuffers(memBytes: number): GuestMemory {
    return new GuestMemory(
      ramRanges(memBytes).map((r: RamRange) => ({
        guestAddr: r.guestAddr,
        bytes: new Uint8Array(r.size),
      })),
    );
  }

  /** The regions, lowest address first. */
  get regions(): readonly MemoryRegion[] {
    return this.#regions;
  }

  /** Total RAM in bytes. */
  get size(): number {
    let n = 0;
    for (const r of this.#regions) n += r.bytes.byteLength;
    return n;
  }

  /** Highest guest-physical address + 1 that is RAM. */
  get end(): number {
    return this.#regions.length === 0 ? 0 : this.#regions[this.#regions.length - 1].end;
  }

  /**
   * True when `[guestAddr, guestAddr + length)` lies inside one region.
   *
   * @example
   * ```ts
   * GuestMemory.fromBuffers(4096).contains(4000, 200); // false
   * ```
   */
  contains(guestAddr: number, length: number): boolean {
    return this.#find(guestAddr, length) !== undefined;
  }

  #find(guestAddr: number, length: number): Region | undefined {
    if (!Number.isSafeInteger(guestAddr) || !Number.isSafeInteger(length)) return undefined;
    if (guestAddr < 0 || length < 0) return undefined;
    const last = guestAddr + length;
    for (const r of this.#regions) {
      if (guestAddr >= r.guestAddr && last <= r.end) return r;
    }
    return undefined;
  }

  #region(guestAddr: number, length: number): Region {
    const r = this.#find(guestAddr, length);
    if (r === undefined) throw new GuestMemoryError(guestAddr, length);
    return r;
  }

  /**
   * A live view of guest RAM (no copy): writes through it reach the guest.
   *
   * @example
   * ```ts
   * const mem = GuestMemory.fromBuffers(1 << 20);
   * mem.slice(0x2000, 16).fill(0xff);
   * ```
   */
  slice(guestAddr: number, length: number): Uint8Array {
    const r = this.#region(guestAddr, length);
    const off = guestAddr - r.guestAddr;
    return r.bytes.subarray(off, off + length);
  }

  /**
   * Host virtual address of `guestAddr`, for syscalls that move data straight between a file
   * and guest RAM. The whole range must be RAM backed by an mmap.
   *
   * @example
   * ```ts
   * // const p = mem.hostAddress(0x10000, 4096); // bigint for pread(2)
   * ```
   */
  hostAddress(guestAddr: number, length: number): bigint {
    const r = this.#region(guestAddr, length);
    if (r.hostAddr === undefined) {
      throw new Error("This guest memory is not mmap-backed: it has no host address");
    }
    return r.hostAddr + BigInt(guestAddr - r.guestAddr);
  }

  /**
   * {@link hostAddress} as a plain number, for hot paths that build `struct iovec` arrays: no
   * BigInt is allocated. Host user-space addresses are below 2^47, so the number is exact.
   *
   * @example
   * ```ts
   * // const p = mem.hostAddressNumber(bufAddr, 1514); // for an iovec handed to writev(2)
   * ```
   */
  hostAddressNumber(guestAddr: number, length: number): number {
    const r = this.#region(guestAddr, length);
    if (Number.isNaN(r.hostBase)) {
      throw new Error("This guest memory is not mmap-backed: it has no host address");
    }
    return r.hostBase + (guestAddr - r.guestAddr);
  }

  /**
   * Copies guest bytes into `dst` (its whole length).
   *
   * @example
   * ```ts
   * const buf = new Uint8Array(8);
   * GuestMemory.fromBuffers(4096).read(0, buf);
   * ```
   */
  read(guestAddr: number, dst: Uint8Array): void {
    dst.set(this.slice(guestAddr, dst.byteLength));
  }

  /**
   * Copies `src` into guest RAM.
   *
   * @example
   * ```ts
   * GuestMemory.fromBuffers(4096).write(0x10, new Uint8Array([1, 2, 3]));
   * ```
   */
  write(guestAddr: number, src: Uint8Array): void {
    this.slice(guestAddr, src.byteLength).set(src);
  }

  /** Reads a byte. @example `mem.readU8(0x400)` */
  readU8(guestAddr: number): number {
    const r = this.#region(guestAddr, 1);
    return r.view.getUint8(guestAddr - r.guestAddr);
  }

  /** Reads a little-endian u16. @example `mem.readU16(0x400)` */
  readU16(guestAddr: number): number {
    const r = this.#region(guestAddr, 2);
    return r.view.getUint16(guestAddr - r.guestAddr, true);
  }

  /** Reads a little-endian u32. @example `mem.readU32(0x400)` */
  readU32(guestAddr: number): number {
    const r = this.#region(guestAddr, 4);
    return r.view.getUint32(guestAddr - r.guestAddr, true);
  }

  /** Reads a little-endian u64. @example `mem.readU64(0x400)` */
  readU64(guestAddr: number): bigint {
    const r = this.#region(guestAddr, 8);
    return r.view.getBigUint64(guestAddr - r.guestAddr, true);
  }

  /** Writes a byte. @example `mem.writeU8(0x400, 1)` */
  writeU8(guestAddr: number, value: number): void {
    const r = this.#region(guestAddr, 1);
    r.view.setUint8(guestAddr - r.guestAddr, value);
  }

  /** Writes a little-endian u16. @example `mem.writeU16(0x400, 1)` */
  writeU16(guestAddr: number, value: number): void {
    const r = this.#region(guestAddr, 2);
    r.view.setUint16(guestAddr - r.guestAddr, value, true);
  }

  /** Writes a little-endian u32. @example `mem.writeU32(0x400, 1)` */
  writeU32(guestAddr: number, value: number): void {
    const r = this.#region(guestAddr, 4);
    r.view.setUint32(guestAddr - r.guestAddr, value, true);
  }

  /** Writes a little-endian u64. @example `mem.writeU64(0x400, 1n)` */
  writeU64(guestAddr: number, value: bigint): void {
    const r = this.#region(guestAddr, 8);
    r.view.setBigUint64(guestAddr - r.guestAddr, value, true);
  }
}
