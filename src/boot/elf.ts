/**
 * ELF64 loading for an uncompressed `vmlinux`: every PT_LOAD segment is copied to its physical
 * address through GuestMemory, and the entry point is returned as a physical address. Every
 * offset and size is checked against the file first, so a truncated or hostile file gives a plain
 * error.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";

const PT_LOAD = 1;
const PT_NOTE = 4;
const ET_EXEC = 2;
const EM_X86_64 = 62;
const PHDR_SIZE = 56;
/** Xen's ELF note type for the 32-bit PVH entry point. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** One loadable segment. */
export interface ElfSegment {
  offset: number;
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
}

/** A parsed vmlinux. */
export interface ElfInfo {
  /** Physical address of the 64-bit entry (startup_64). */
  entry: number;
  segments: ElfSegment[];
  /** Lowest physical address of any segment. */
  start: number;
  /** Highest physical address + 1 of any segment. */
  end: number;
  /** The PVH 32-bit entry point, when the kernel has one. */
  pvhEntry?: number;
}

/** True when `image` starts with the ELF magic. @example `isElf(bytes)` */
export function isElf(image: Uint8Array): boolean {
  return image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c &&
    image[3] === 0x46;
}

/**
 * Parses and validates an x86-64 ELF executable.
 *
 * @example
 * ```ts
 * parseElf(await Deno.readFile("vmlinux")).entry.toString(16); // "1000000"
 * ```
 */
export function parseElf(image: Uint8Array): ElfInfo {
  if (!isElf(image)) throw new Error("Not an ELF file");
  if (image.length < 64) throw new Error("ELF file is truncated inside its header");
  if (image[4] !== 2 || image[5] !== 1) throw new Error("Not a 64-bit little-endian ELF file");
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (v.getUint16(16, true) !== ET_EXEC) throw new Error("ELF file is not an executable (ET_EXEC)");
  if (v.getUint16(18, true) !== EM_X86_64) throw new Error("ELF file is not for x86-64");
  const eEntry = v.getBigUint64(24, true);
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  if (phentsize < PHDR_SIZE || !fits(image, phoff, phentsize * phnum)) {
    throw new Error("ELF program headers lie outside the file");
  }
  const segments: ElfSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = v.getUint32(o, true);
    const offset = Number(v.getBigUint64(o + 8, true));
    const filesz = Number(v.getBigUint64(o + 32, true));
    if (type === PT_LOAD) {
      const memsz = Number(v.getBigUint64(o + 40, true));
      const paddr = Number(v.getBigUint64(o + 24, true));
      if (!fits(image, offset, filesz)) throw new Error(`ELF segment ${i} lies outside the file`);
      if (memsz < filesz) throw new Error(`ELF segment ${i} is smaller in memory than in the file`);
      if (!Number.isSafeInteger(paddr + memsz)) {
        throw new Error(`ELF segment ${i} has an impossible address`);
      }
      segments.push({ offset, vaddr: v.getBigUint64(o + 16, true), paddr, filesz, memsz });
    } else if (type === PT_NOTE && fits(image, offset, filesz)) {
      pvhEntry ??= findPvhNote(v, offset, filesz);
    }
  }
  if (segments.length === 0) throw new Error("ELF file has no loadable segments");
  const start = Math.min(...segments.map((s) => s.paddr));
  const end = Math.max(...segments.map((s) => s.paddr + s.memsz));
  return { entry: physicalEntry(eEntry, segments), segments, start, end, pvhEntry };
}

function fits(image: Uint8Array, offset: number, len: number): boolean {
  return Number.isSafeInteger(offset) && Number.isSafeInteger(len) && offset >= 0 && len >= 0 &&
    offset + len <= image.length;
}

// vmlinux's e_entry is already physical; a virtual one is mapped through its segment.
function physicalEntry(entry: bigint, segments: ElfSegment[]): number {
  for (const s of segments) {
    if (entry >= s.vaddr && entry < s.vaddr + BigInt(s.memsz)) {
      return s.paddr + Number(entry - s.vaddr);
    }
  }
  if (entry <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const e = Number(entry);
    if (segments.some((s) => e >= s.paddr && e < s.paddr + s.memsz)) return e;
  }
  throw new Error(`ELF entry point 0x${entry.toString(16)} is not inside any loadable segment`);
}

function findPvhNote(v: DataView, offset: number, size: number): number | undefined {
  const align4 = (n: number) => (n + 3) & ~3;
  for (let o = offset; o + 12 <= offset + size;) {
    const namesz = v.getUint32(o, true);
    const descsz = v.getUint32(o + 4, true);
    const type = v.getUint32(o + 8, true);
    const name = o + 12;
    const desc = name + align4(namesz);
    if (desc + descsz > offset + size) return undefined;
    const isXen = namesz === 4 && v.getUint32(name, true) === 0x006e_6558; // "Xen\0"
    if (isXen && type === XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) return v.getUint32(desc, true);
    o = desc + align4(descsz);
  }
  return undefined;
}

/**
 * Copies every PT_LOAD segment to its physical address (zeroing the part beyond the file data).
 *
 * @example
 * ```ts
 * const info = loadElf(mem, image);
 * ```
 */
export function loadElf(mem: GuestMemory, image: Uint8Array): ElfInfo {
  const info = parseElf(image);
  for (const s of info.segments) {
    if (!mem.contains(s.paddr, s.memsz)) {
      throw new Error(
        `Kernel segment at 0x${
          s.paddr.toString(16)
        } (+${s.memsz} bytes) does not fit in guest RAM; give the VM more memory`,
      );
    }
    mem.write(s.paddr, image.subarray(s.offset, s.offset + s.filesz));
    mem.slice(s.paddr + s.filesz, s.memsz - s.filesz).fill(0);
  }
  return info;
}
