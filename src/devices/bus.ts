/**
 * An address-decoding bus for port I/O or MMIO: ranges map to devices, and an access is routed
 * to the device whose range holds it, with the offset from the range's base.
 *
 * @module
 */

/** A device on a bus. `data.length` is the access size; a read fills `data`. */
export interface BusDevice {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

interface Range {
  base: number;
  end: number;
  device: BusDevice;
  name: string;
}

/**
 * Sorted, non-overlapping ranges with binary-search lookup: no allocation per access, since this
 * runs on every PIO/MMIO exit.
 *
 * @example
 * ```ts
 * const pio = new IoBus();
 * pio.insert(0x3f8, 8, serial, "com1");
 * pio.write(0x3f8, new Uint8Array([0x41]));
 * ```
 */
export class IoBus {
  #ranges: Range[] = [];

  /**
   * Adds a device at `[base, base + length)`. Throws on a zero length or an overlap.
   *
   * @example
   * ```ts
   * bus.insert(0xd000_0000, 0x1000, transport, "virtio-blk0");
   * ```
   */
  insert(base: number, length: number, device: BusDevice, name: string): void {
    if (!(length > 0) || !Number.isSafeInteger(base) || !Number.isSafeInteger(length) || base < 0) {
      throw new RangeError(`Bus range for ${name} must have a positive length`);
    }
    const end = base + length;
    for (const r of this.#ranges) {
      if (base < r.end && r.base < end) {
        throw new RangeError(
          `Bus range for ${name} [0x${base.toString(16)}, 0x${
            end.toString(16)
          }) overlaps ${r.name}`,
        );
      }
    }
    this.#ranges.push({ base, end, device, name });
    this.#ranges.sort((a, b) => a.base - b.base);
  }

  #find(addr: number): Range | undefined {
    const rs = this.#ranges;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = rs[mid];
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.end) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** Routes a read; false when no device claims `addr` (the caller decides what it reads as). */
  read(addr: number, data: Uint8Array): boolean {
    const r = this.#find(addr);
    if (r === undefined) return false;
    r.device.read(addr - r.base, data);
    return true;
  }

  /** Routes a write; false when no device claims `addr`. */
  write(addr: number, data: Uint8Array): boolean {
    const r = this.#find(addr);
    if (r === undefined) return false;
    r.device.write(addr - r.base, data);
    return true;
  }

  /** The ranges, for diagnostics: `[name, base, length]`. */
  list(): [string, number, number][] {
    return this.#ranges.map((r) => [r.name, r.base, r.end - r.base]);
  }
}
