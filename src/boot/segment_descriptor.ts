/**
 * x86 segment descriptors in both forms a VMM needs: the 8-byte (or, for long-mode system
 * segments, 16-byte) entry the guest sees in its GDT, and the unpacked {@link Segment} KVM loads
 * as hidden segment state. Encoding one from the other keeps the two in agreement.
 *
 * @module
 */

import type { KvmSegment } from "../../ffi/kvm_structs.ts";

/** A segment register's hidden state: `struct kvm_segment` (a type-only import, no FFI loaded). */
export type Segment = KvmSegment;

const SYSTEM_TYPES_16_BYTES = new Set([0x2, 0x9, 0xb]); // LDT, available and busy 64-bit TSS

/**
 * Whether a long-mode descriptor for `seg` takes 16 bytes (LDT and TSS do).
 *
 * @example
 * ```ts
 * isWideDescriptor({ ...tss, s: 0, type: 0xb }); // true
 * ```
 */
export function isWideDescriptor(seg: Pick<Segment, "s" | "type">): boolean {
  return seg.s === 0 && SYSTEM_TYPES_16_BYTES.has(seg.type);
}

function limitField(seg: Segment): bigint {
  if (seg.g) {
    if ((seg.limit & 0xfff) !== 0xfff) {
      throw new Error(`Limit 0x${seg.limit.toString(16)} cannot be encoded with 4 KiB granularity`);
    }
    return BigInt(seg.limit >>> 12);
  }
  if (seg.limit > 0xfffff) {
    throw new Error(`Limit 0x${seg.limit.toString(16)} needs 4 KiB granularity (g = 1)`);
  }
  return BigInt(seg.limit);
}

/**
 * Encodes `seg` as GDT quadwords: one for code/data, two for long-mode LDT/TSS descriptors.
 *
 * @example
 * ```ts
 * encodeDescriptor({ base: 0n, limit: 0xffffffff, selector: 0x10, type: 0xb, present: 1,
 *   dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 }); // [0x00af9b000000ffffn]
 * ```
 */
export function encodeDescriptor(seg: Segment): bigint[] {
  const limit = limitField(seg);
  const access = BigInt((seg.present << 7) | (seg.dpl << 5) | (seg.s << 4) | (seg.type & 0xf));
  const flags = BigInt((seg.g << 3) | (seg.db << 2) | (seg.l << 1) | seg.avl);
  const low = (limit & 0xffffn) |
    ((seg.base & 0xff_ffffn) << 16n) |
    (access << 40n) |
    ((limit >> 16n) << 48n) |
    (flags << 52n) |
    (((seg.base >> 24n) & 0xffn) << 56n);
  if (!isWideDescriptor(seg)) {
    if (seg.base > 0xffff_ffffn) throw new Error("A code/data segment base must fit in 32 bits");
    return [low];
  }
  return [low, (seg.base >> 32n) & 0xffff_ffffn];
}

/**
 * Decodes the descriptor `selector` points at in a GDT image back into a {@link Segment}.
 *
 * @example
 * ```ts
 * decodeDescriptor(mem.slice(GDT_ADDR, 48), 0x10).l; // 1
 * ```
 */
export function decodeDescriptor(gdt: Uint8Array, selector: number): Segment {
  const v = new DataView(gdt.buffer, gdt.byteOffset, gdt.byteLength);
  const at = selector & ~7;
  if (at + 8 > gdt.length) throw new Error(`Selector 0x${selector.toString(16)} is past the GDT`);
  const d = v.getBigUint64(at, true);
  const bit = (n: bigint) => Number((d >> n) & 1n);
  const s = bit(44n);
  const type = Number((d >> 40n) & 0xfn);
  const g = bit(55n);
  const rawLimit = Number((d & 0xffffn) | (((d >> 48n) & 0xfn) << 16n));
  let base = ((d >> 16n) & 0xff_ffffn) | (((d >> 56n) & 0xffn) << 24n);
  if (isWideDescriptor({ s, type })) {
    if (at + 16 > gdt.length) throw new Error(`The 16-byte descriptor at ${at} is cut by the GDT`);
    base |= (v.getBigUint64(at + 8, true) & 0xffff_ffffn) << 32n;
  }
  return {
    base,
    limit: g ? ((rawLimit << 12) | 0xfff) >>> 0 : rawLimit,
    selector,
    type,
    present: bit(47n),
    dpl: Number((d >> 45n) & 3n),
    db: bit(54n),
    s,
    l: bit(53n),
    g,
    avl: bit(52n),
    unusable: 0,
  };
}
