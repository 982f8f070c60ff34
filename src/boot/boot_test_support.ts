/**
 * Synthetic kernel images for the boot-loader tests.
 *
 * @module
 */

/**
 * A minimal x86-64 ELF executable with the given PT_LOAD segments (and optionally a PVH note).
 *
 * @example
 * ```ts
 * const elf = makeElf({ entry: 0x100000n, segments: [{ paddr: 0x100000, vaddr: 0x100000n, data: new Uint8Array(16), memsz: 64 }] });
 * ```
 */
export function makeElf(o: {
  entry: bigint;
  segments: { paddr: number; vaddr: bigint; data: Uint8Array; memsz: number }[];
  machine?: number;
  pvhEntry?: number;
}): Uint8Array {
  const phnum = o.segments.length + (o.pvhEntry !== undefined ? 1 : 0);
  const dataStart = 64 + 56 * phnum;
  const note = o.pvhEntry !== undefined ? new Uint8Array(20) : new Uint8Array(0);
  if (o.pvhEntry !== undefined) {
    const nv = new DataView(note.buffer);
    nv.setUint32(0, 4, true);
    nv.setUint32(4, 4, true);
    nv.setUint32(8, 18, true);
    note.set([0x58, 0x65, 0x6e, 0], 12);
    nv.setUint32(16, o.pvhEntry, true);
  }
  const total = dataStart + note.length + o.segments.reduce((a, s) => a + s.data.length, 0);
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  v.setUint16(16, 2, true);
  v.setUint16(18, o.machine ?? 62, true);
  v.setBigUint64(24, o.entry, true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, phnum, true);
  let off = dataStart + note.length;
  o.segments.forEach((s, i) => {
    const ph = 64 + 56 * i;
    v.setUint32(ph, 1, true);
    v.setBigUint64(ph + 8, BigInt(off), true);
    v.setBigUint64(ph + 16, s.vaddr, true);
    v.setBigUint64(ph + 24, BigInt(s.paddr), true);
    v.setBigUint64(ph + 32, BigInt(s.data.length), true);
    v.setBigUint64(ph + 40, BigInt(s.memsz), true);
    b.set(s.data, off);
    off += s.data.length;
  });
  if (o.pvhEntry !== undefined) {
    const ph = 64 + 56 * o.segments.length;
    v.setUint32(ph, 4, true);
    v.setBigUint64(ph + 8, BigInt(dataStart), true);
    v.setBigUint64(ph + 32, BigInt(note.length), true);
    b.set(note, dataStart);
  }
  return b;
}

/**
 * A synthetic bzImage: setup sectors with a header, then `payload` as the protected-mode part.
 *
 * @example
 * ```ts
 * const bz = makeBzImage({ version: 0x020f, payload: new Uint8Array(4096) });
 * ```
 */
export function makeBzImage(o: {
  version?: number;
  xloadflags?: number;
  magic?: number;
  setupSects?: number;
  payload: Uint8Array;
  initSize?: number;
}): Uint8Array {
  const sects = o.setupSects ?? 4;
  const setup = (sects + 1) * 512;
  const b = new Uint8Array(setup + o.payload.length);
  const v = new DataView(b.buffer);
  b[0x1f1] = sects;
  v.setUint16(0x1fe, 0xaa55, true);
  b[0x200] = 0xeb;
  b[0x201] = 0x66; // jump over a header ending at 0x268
  v.setUint32(0x202, o.magic ?? 0x5372_6448, true);
  v.setUint16(0x206, o.version ?? 0x020f, true);
  b[0x211] = 1; // LOADED_HIGH
  v.setUint32(0x22c, 0x7fff_ffff, true);
  v.setUint32(0x230, 0x20_0000, true);
  v.setUint16(0x236, o.xloadflags ?? 1, true);
  v.setUint32(0x238, 2047, true);
  v.setUint32(0x260, o.initSize ?? o.payload.length, true);
  b.set(o.payload, setup);
  return b;
}
