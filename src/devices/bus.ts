/**
 * An address-decoding bus for port I/O or MMIO: ranges map to devices, and an access is routed
 * to the device whose range holds its first byte, with the offset from the range's base.
 *
 * @example
 * ```ts
 * import { IoBus } from "./bus.ts";
 * const pio = new IoBus();
 * pio.insert(0x80, 1, { read: (_o, d) => d.fill(0xff), write: () => {} }, "post");
 * pio.read(0x80, new Uint8Array(1)); // true
 * ```
 * @module
 */

/**
 * A device on a bus. `offset` is relative to the base of the range the device was inserted at;
 * `data.length` is the access size (1, 2, 4 or 8). A read fills `data`, a write reads it. An
 * access starts inside the range but may run past its end (a guest `inw` at the last port): the
 * device decides what such an access means.
 *
 * @example
 * ```ts
 * const scratch: BusDevice = {
 *   read: (_offset, data) => data.fill(0x5a),
 *   write: () => {},
 * };
 * ```
 */
export interface BusDevice {
  /** Fills `data` with the value at `offset`. */
  read(offset: number, data: Uint8Array): void;
  /** Stores `data` at `offset`. */
  write(offset: number, data: Uint8Array): void;
}

/**
 * One range of a bus, as {@link IoBus.list} reports it.
 *
 * @example
 * ```ts
 * const r: BusRange = { name: "com1", base: 0x3f8, length: 8 };
 * ```
 */
export interface BusRange {
  /** The name given to {@link IoBus.insert}, for messages. */
  readonly name: string;
  /** First address of the range. */
  readonly base: number;
  /** Number of addresses in the range. */
  readonly length: number;
}

const hex = (n: number) => "0x" + n.toString(16);

/**
 * Sorted, non-overlapping ranges with binary-search lookup. An access allocates nothing and costs
 * O(log n) comparisons on plain numbers, since it runs on every vCPU PIO/MMIO exit; the range hit
 * last is tried first because consecutive exits usually go to the same device (a console line is
 * many THR writes).
 *
 * @example
 * ```ts
 * const pio = new IoBus();
 * pio.insert(0x3f8, 8, serial, "com1");
 * pio.write(0x3f8, new Uint8Array([0x41])); // true: serial.write(0, data)
 * pio.read(0x2f8, new Uint8Array(1)); // false: nothing there, the caller decides
 * ```
 */
export class IoBus {
  // Parallel arrays sorted by base, so a lookup touches only numbers until it has a hit.
  #bases: number[] = [];
  #ends: number[] = [];
  #devices: BusDevice[] = [];
  #names: string[] = [];
  #last = 0;

  /**
   * Adds `device` at `[base, base + length)`. Throws a RangeError on a length that is not a
   * positive integer, a base that is not a non-negative integer, or an overlap with a range
   * already on the bus.
   *
   * @example
   * ```ts
   * bus.insert(0xd000_0000, 0x1000, transport, "virtio-blk0");
   * bus.insert(0xd000_0800, 4, other, "x"); // throws: overlaps virtio-blk0
   * ```
   */
  insert(base: number, length: number, device: BusDevice, name: string): void {
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new RangeError(
        `Cannot add ${name} to the bus: its length must be a positive integer, got ${length}`,
      );
    }
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(base + length)) {
      throw new RangeError(
        `Cannot add ${name} to the bus: its base must be a non-negative integer below 2^53 ` +
          `(with its length), got ${base}`,
      );
    }
    const end = base + length;
    let at = 0;
    while (at < this.#bases.length && this.#bases[at] < base) at++;
    for (const i of [at - 1, at]) {
      if (i >= 0 && i < this.#bases.length && base < this.#ends[i] && this.#bases[i] < end) {
        throw new RangeError(
          `Cannot add ${name} at [${hex(base)}, ${hex(end)}) to the bus: it overlaps ` +
            `${this.#names[i]} at [${hex(this.#bases[i])}, ${hex(this.#ends[i])})`,
        );
      }
    }
    this.#bases.splice(at, 0, base);
    this.#ends.splice(at, 0, end);
    this.#devices.splice(at, 0, device);
    this.#names.splice(at, 0, name);
    this.#last = at;
  }

  /** Index of the range holding `addr`, or -1. */
  #find(addr: number): number {
    const bases = this.#bases;
    const ends = this.#ends;
    const last = this.#last;
    if (addr >= bases[last] && addr < ends[last]) return last;
    let lo = 0;
    let hi = bases.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (addr < bases[mid]) hi = mid - 1;
      else if (addr >= ends[mid]) lo = mid + 1;
      else {
        this.#last = mid;
        return mid;
      }
    }
    return -1;
  }

  /**
   * Routes a read to the device holding `addr`. Returns false, leaving `data` untouched, when no
   * device claims it: the caller decides what the guest sees (all-ones for PIO) and logs it.
   *
   * @example
   * ```ts
   * const data = new Uint8Array(1);
   * if (!pio.read(0x3fd, data)) data.fill(0xff);
   * ```
   */
  read(addr: number, data: Uint8Array): boolean {
    const i = this.#find(addr);
    if (i < 0) return false;
    this.#devices[i].read(addr - this.#bases[i], data);
    return true;
  }

  /**
   * Routes a write to the device holding `addr`; false when no device claims it.
   *
   * @example
   * ```ts
   * pio.write(0x64, new Uint8Array([0xfe])); // the i8042 reset
   * ```
   */
  write(addr: number, data: Uint8Array): boolean {
    const i = this.#find(addr);
    if (i < 0) return false;
    this.#devices[i].write(addr - this.#bases[i], data);
    return true;
  }

  /**
   * Name of the range holding `addr`, for messages about an access; undefined when unmapped.
   *
   * @example
   * ```ts
   * pio.nameAt(0x3fd); // "com1"
   * ```
   */
  nameAt(addr: number): string | undefined {
    const i = this.#find(addr);
    return i < 0 ? undefined : this.#names[i];
  }

  /**
   * The ranges in address order, for diagnostics.
   *
   * @example
   * ```ts
   * for (const r of pio.list()) console.log(r.name, r.base.toString(16), r.length);
   * ```
   */
  list(): BusRange[] {
    return this.#bases.map((base, i) => ({
      name: this.#names[i],
      base,
      length: this.#ends[i] - base,
    }));
  }
}

/**
 * A view of `device` whose offsets are shifted by `delta`: lets one device model answer at
 * addresses that are not contiguous (the i8042 at ports 0x60 and 0x64) without claiming the
 * addresses between them.
 *
 * @example
 * ```ts
 * pio.insert(0x60, 1, i8042, "i8042-data"); // offset 0
 * pio.insert(0x64, 1, offsetDevice(i8042, 4), "i8042-command"); // offset 4
 * ```
 */
export function offsetDevice(device: BusDevice, delta: number): BusDevice {
  return {
    read: (offset, data) => device.read(offset + delta, data),
    write: (offset, data) => device.write(offset + delta, data),
  };
}
