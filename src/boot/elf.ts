/**
 * ELF64 loading for an uncompressed x86-64 `vmlinux`: each PT_LOAD segment is copied to its
 * physical address through GuestMemory and the entry point is returned as a physical address for
 * the 64-bit boot protocol. Every header, segment and note is checked against the file before it
 * is read, so a truncated or hostile file gives a plain error, never a RangeError.
 *
 * @module
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { HIGH_MEM_START } from "../memory/layout.ts";
import { BootPlacementError } from "./boot_placement_error.ts";

/** ELF constants denovmm checks. */
export const ELF = {
  CLASS_64: 2,
  DATA_LSB: 1,
  VERSION_CURRENT: 1,
  ET_EXEC: 2,
  EM_X86_64: 62,
  PT_LOAD: 1,
  PT_NOTE: 4,
  EHDR_SIZE: 64,
  PHDR_SIZE: 56,
  /** e_phnum value meaning "the real count is elsewhere" (extended numbering). */
  PN_XNUM: 0xffff,
} as const;
/** Xen ELF note type holding the 32-bit PVH entry point (a physical address). */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

const MACHINES: Record<number, string> = { 3: "i386", 40: "ARM", 183: "AArch64", 243: "RISC-V" };
const TYPES: Record<number, string> = { 1: "ET_REL", 3: "ET_DYN", 4: "ET_CORE" };

/** One PT_LOAD segment. */
export interface ElfSegment {
  /** Index of its program header. */
  index: number;
  /** File offset of its data. */
  offset: number;
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
}

/** A validated x86-64 ELF executable. */
export interface ElfImage {
  /** Physical address of the entry point (for vmlinux: startup_64). */
  entry: number;
  /** e_entry as written in the file (physical for vmlinux, virtual for some linkers). */
  rawEntry: bigint;
  segments: ElfSegment[];
  /** Lowest physical address of any segment. */
  start: number;
  /** Highest physical address + 1 of any segment. */
  end: number;
  /** The PVH 32-bit entry point (XEN_ELFNOTE_PHYS32_ENTRY), when the kernel has one. */
  pvhEntry?: number;
}

/**
 * True when `image` starts with the ELF magic.
 *
 * @example
 * ```ts
 * isElf(await Deno.readFile("vmlinux")); // true
 * ```
 */
export function isElf(image: Uint8Array): boolean {
  return image.length >= 4 && image[0] === 0x7f && image[1] === 0x45 && image[2] === 0x4c &&
    image[3] === 0x46;
}

/** Bounds-checked little-endian reads of the file; `what` names the field in errors. */
class FileReader {
  readonly #v: DataView;
  readonly length: number;

  constructor(image: Uint8Array) {
    this.#v = new DataView(image.buffer, image.byteOffset, image.byteLength);
    this.length = image.length;
  }

  /** True when `[offset, offset + len)` is inside the file. */
  has(offset: number, len: number): boolean {
    return Number.isSafeInteger(offset) && Number.isSafeInteger(len) && offset >= 0 && len >= 0 &&
      offset + len <= this.length;
  }

  u16(o: number): number {
    return this.#v.getUint16(o, true);
  }

  u32(o: number): number {
    return this.#v.getUint32(o, true);
  }

  u64(o: number): bigint {
    return this.#v.getBigUint64(o, true);
  }

  /** A u64 that must be usable as a JS number (offsets, sizes, physical addresses). */
  safe(o: number, what: string): number {
    const n = this.u64(o);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new Error(`ELF ${what} 0x${n.toString(16)} is impossibly large`);
    }
    return Number(n);
  }
}

/**
 * Parses and validates an x86-64 ELF executable without loading it.
 *
 * @example
 * ```ts
 * const elf = parseElf(await Deno.readFile("vmlinux"));
 * elf.entry.toString(16); // "1000000"
 * ```
 */
export function parseElf(image: Uint8Array): ElfImage {
  if (!isElf(image)) throw new Error("Not an ELF file: no \\x7fELF magic at offset 0");
  if (image.length < ELF.EHDR_SIZE) {
    throw new Error(`ELF file is truncated: ${image.length} bytes, less than its 64-byte header`);
  }
  if (image[4] !== ELF.CLASS_64) {
    throw new Error("ELF file is not 64-bit (EI_CLASS is not ELFCLASS64): denovmm needs x86-64");
  }
  if (image[5] !== ELF.DATA_LSB) throw new Error("ELF file is not little-endian");
  if (image[6] !== ELF.VERSION_CURRENT) throw new Error(`Unknown ELF version ${image[6]}`);
  const f = new FileReader(image);
  const type = f.u16(16);
  if (type !== ELF.ET_EXEC) {
    throw new Error(
      `ELF file is not an executable: e_type is ${TYPES[type] ?? type}, denovmm needs ET_EXEC`,
    );
  }
  const machine = f.u16(18);
  if (machine !== ELF.EM_X86_64) {
    throw new Error(
      `ELF file is for ${MACHINES[machine] ?? `machine ${machine}`}, not x86-64 (EM_X86_64 = 62)`,
    );
  }
  const rawEntry = f.u64(24);
  const phoff = f.safe(32, "program header offset");
  const phentsize = f.u16(54);
  const phnum = f.u16(56);
  if (phnum === 0) throw new Error("ELF file has no program headers");
  if (phnum === ELF.PN_XNUM) {
    throw new Error("ELF files with 65535+ program headers are not supported");
  }
  if (phentsize < ELF.PHDR_SIZE) {
    throw new Error(`ELF program headers are ${phentsize} bytes, less than the 56 of ELF64`);
  }
  if (!f.has(phoff, phentsize * phnum)) {
    throw new Error(
      `ELF program headers (${phnum} x ${phentsize} bytes at offset ${phoff}) lie outside the ` +
        `${f.length}-byte file`,
    );
  }
  const segments: ElfSegment[] = [];
  let pvhEntry: number | undefined;
  for (let index = 0; index < phnum; index++) {
    const o = phoff + index * phentsize;
    const ptype = f.u32(o);
    if (ptype === ELF.PT_LOAD) {
      segments.push(readSegment(f, o, index));
    } else if (ptype === ELF.PT_NOTE) {
      const offset = f.safe(o + 8, `note ${index} offset`);
      const size = f.safe(o + 32, `note ${index} size`);
      if (!f.has(offset, size)) {
        throw new Error(
          `ELF note segment ${index} (${size} bytes at offset ${offset}) lies outside the file`,
        );
      }
      pvhEntry ??= findPvhEntry(f, offset, size, f.u64(o + 48) === 8n ? 8 : 4);
    }
  }
  const loaded = segments.filter((s) => s.memsz > 0);
  if (loaded.length === 0) throw new Error("ELF file has no loadable (PT_LOAD) segments");
  return {
    entry: physicalEntry(rawEntry, loaded),
    rawEntry,
    segments,
    start: Math.min(...loaded.map((s) => s.paddr)),
    end: Math.max(...loaded.map((s) => s.paddr + s.memsz)),
    pvhEntry,
  };
}

function readSegment(f: FileReader, o: number, index: number): ElfSegment {
  const offset = f.safe(o + 8, `segment ${index} offset`);
  const vaddr = f.u64(o + 16);
  const paddr = f.safe(o + 24, `segment ${index} physical address`);
  const filesz = f.safe(o + 32, `segment ${index} file size`);
  const memsz = f.safe(o + 40, `segment ${index} memory size`);
  if (!f.has(offset, filesz)) {
    throw new Error(
      `ELF segment ${index} (${filesz} bytes at offset ${offset}) lies outside the ` +
        `${f.length}-byte file: the file is truncated or corrupt`,
    );
  }
  if (memsz < filesz) {
    throw new Error(`ELF segment ${index} is smaller in memory (${memsz}) than in the file`);
  }
  if (!Number.isSafeInteger(paddr + memsz)) {
    throw new Error(`ELF segment ${index} ends at an impossible address`);
  }
  return { index, offset, vaddr, paddr, filesz, memsz };
}

// vmlinux's e_entry is already physical (phys_startup_64). A virtual one (0xffffffff8...) can
// only be reached through the segment whose virtual range contains it.
function physicalEntry(entry: bigint, segments: ElfSegment[]): number {
  if (entry <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const e = Number(entry);
    if (segments.some((s) => e >= s.paddr && e < s.paddr + s.memsz)) return e;
  }
  for (const s of segments) {
    if (entry >= s.vaddr && entry < s.vaddr + BigInt(s.memsz)) {
      return s.paddr + Number(entry - s.vaddr);
    }
  }
  throw new Error(`ELF entry point 0x${entry.toString(16)} is not inside any loadable segment`);
}

// Notes: u32 namesz, descsz, type, then name and desc, each padded to the segment's alignment.
function findPvhEntry(
  f: FileReader,
  offset: number,
  size: number,
  align: number,
): number | undefined {
  const pad = (n: number) => Math.ceil(n / align) * align;
  const end = offset + size;
  for (let o = offset; o + 12 <= end;) {
    const namesz = f.u32(o);
    const descsz = f.u32(o + 4);
    const type = f.u32(o + 8);
    const name = o + 12;
    const desc = name + pad(namesz);
    if (desc + descsz > end) {
      throw new Error(`ELF note at offset ${o} runs past the end of its note segment`);
    }
    if (type === XEN_ELFNOTE_PHYS32_ENTRY && namesz === 4 && f.u32(name) === 0x006e_6558) {
      if (descsz === 4) return f.u32(desc);
      if (descsz === 8) return f.safe(desc, "PVH entry");
      throw new Error(`ELF Xen PHYS32_ENTRY note has a ${descsz}-byte value, not 4 or 8`);
    }
    o = desc + pad(descsz);
  }
  return undefined;
}

/**
 * Validates `image` and copies every PT_LOAD segment to its physical address, zeroing the part
 * beyond the file data (.bss). Segments must sit at or above 1 MiB, where they cannot clobber
 * the boot structures; one outside RAM throws a {@link BootPlacementError}.
 *
 * @example
 * ```ts
 * const elf = loadElf(mem, await Deno.readFile("vmlinux"));
 * ```
 */
export function loadElf(mem: GuestMemory, image: Uint8Array): ElfImage {
  const elf = parseElf(image);
  for (const s of elf.segments) {
    if (s.memsz === 0) continue;
    if (s.paddr < HIGH_MEM_START) {
      throw new Error(
        `ELF segment ${s.index} starts at 0x${s.paddr.toString(16)}, below 1 MiB where ` +
          `denovmm keeps the boot structures`,
      );
    }
    if (!mem.contains(s.paddr, s.memsz)) {
      throw BootPlacementError.outsideRam(mem, `Kernel ELF segment ${s.index}`, s.paddr, s.memsz);
    }
  }
  for (const s of elf.segments) {
    if (s.memsz === 0) continue;
    mem.write(s.paddr, image.subarray(s.offset, s.offset + s.filesz));
    mem.slice(s.paddr + s.filesz, s.memsz - s.filesz).fill(0);
  }
  return elf;
}
