/**
 * The few facts about an ELF file the guest build checks: is it a 64-bit x86 executable, does it
 * need a dynamic loader (busybox must not), where do its segments load, and does it carry the
 * PVH entry note (`vmlinux` must).
 *
 * @module
 */

const PT_LOAD = 1;
const PT_INTERP = 3;
const PT_NOTE = 4;
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical entry point of a PVH kernel. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const EM_X86_64 = 62;

/** A loadable segment. */
export interface LoadSegment {
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
}

/** What {@link elfFacts} found. */
export interface ElfFacts {
  /** ET_EXEC or ET_DYN for x86-64. */
  x86_64: boolean;
  /** Has a PT_INTERP segment, i.e. needs a dynamic loader and libraries. */
  dynamic: boolean;
  entry: bigint;
  loads: LoadSegment[];
  /** The PVH entry (Xen note type 18), when there is one. */
  pvhEntry?: number;
}

/**
 * Reads the ELF header, program headers and notes of a 64-bit little-endian ELF file.
 * Throws when `bytes` is not one.
 *
 * @example
 * ```ts
 * const facts = elfFacts(Deno.readFileSync("/bin/busybox"));
 * if (facts.dynamic) throw new Error("busybox is not static");
 * ```
 */
export function elfFacts(bytes: Uint8Array): ElfFacts {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isElf = bytes.length >= 64 && v.getUint32(0) === 0x7f454c46;
  if (!isElf || bytes[4] !== 2 || bytes[5] !== 1) {
    throw new Error("not a 64-bit little-endian ELF file");
  }
  const machine = v.getUint16(18, true);
  const entry = v.getBigUint64(24, true);
  const phoff = Number(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  if (phoff + phnum * phentsize > bytes.length || (phnum > 0 && phentsize < 56)) {
    throw new Error("ELF program headers run past the end of the file");
  }
  const facts: ElfFacts = { x86_64: machine === EM_X86_64, dynamic: false, entry, loads: [] };
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = v.getUint32(ph, true);
    const offset = Number(v.getBigUint64(ph + 8, true));
    const filesz = Number(v.getBigUint64(ph + 32, true));
    if (type === PT_INTERP) facts.dynamic = true;
    if (type === PT_LOAD) {
      facts.loads.push({
        offset,
        vaddr: v.getBigUint64(ph + 16, true),
        paddr: v.getBigUint64(ph + 24, true),
        filesz,
        memsz: Number(v.getBigUint64(ph + 40, true)),
      });
    }
    if (type === PT_NOTE && offset + filesz <= bytes.length) {
      const pvh = findPvhEntry(v, offset, offset + filesz);
      if (pvh !== undefined) facts.pvhEntry = pvh;
    }
  }
  return facts;
}

function findPvhEntry(v: DataView, start: number, end: number): number | undefined {
  const align4 = (n: number) => (n + 3) & ~3;
  let at = start;
  while (at + 12 <= end) {
    const namesz = v.getUint32(at, true);
    const descsz = v.getUint32(at + 4, true);
    const type = v.getUint32(at + 8, true);
    const name = new TextDecoder().decode(
      new Uint8Array(v.buffer, v.byteOffset + at + 12, Math.min(namesz, end - at - 12)),
    );
    const desc = at + 12 + align4(namesz);
    if (desc + descsz > end) return undefined;
    if (name === "Xen\0" && type === XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) {
      return v.getUint32(desc, true);
    }
    at = desc + align4(descsz);
  }
  return undefined;
}
