/**
 * Synthetic kernel images for the boot tests, and the lookup of a real built guest kernel.
 *
 * @module
 */

import { existsSync, readdirSync } from "node:fs";

/** One PT_LOAD segment of {@link makeElf}. */
export interface FakeSegment {
  paddr: number;
  /** Defaults to `paddr`. */
  vaddr?: bigint;
  data: Uint8Array;
  /** Defaults to the data length. */
  memsz?: number;
}

/**
 * A minimal ELF64 executable with the given PT_LOAD segments and, optionally, a PT_NOTE holding
 * a Xen PHYS32_ENTRY note (after a GNU note, so the note walker has to step over one).
 *
 * @example
 * ```ts
 * const elf = makeElf({ entry: 0x1000000n, segments: [{ paddr: 0x1000000, data: new Uint8Array(16) }] });
 * ```
 */
export function makeElf(o: {
  entry: bigint;
  segments: FakeSegment[];
  machine?: number;
  type?: number;
  elfClass?: number;
  pvhEntry?: number;
}): Uint8Array {
  const note = o.pvhEntry === undefined ? undefined : pvhNote(o.pvhEntry);
  const phnum = o.segments.length + (note ? 1 : 0);
  const dataStart = 64 + 56 * phnum;
  const total = dataStart + (note?.length ?? 0) +
    o.segments.reduce((a, s) => a + s.data.length, 0);
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, o.elfClass ?? 2, 1, 1], 0);
  v.setUint16(16, o.type ?? 2, true);
  v.setUint16(18, o.machine ?? 62, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, o.entry, true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, phnum, true);
  let off = dataStart + (note?.length ?? 0);
  o.segments.forEach((s, i) => {
    const ph = 64 + 56 * i;
    v.setUint32(ph, 1, true); // PT_LOAD
    v.setBigUint64(ph + 8, BigInt(off), true);
    v.setBigUint64(ph + 16, s.vaddr ?? BigInt(s.paddr), true);
    v.setBigUint64(ph + 24, BigInt(s.paddr), true);
    v.setBigUint64(ph + 32, BigInt(s.data.length), true);
    v.setBigUint64(ph + 40, BigInt(s.memsz ?? s.data.length), true);
    v.setBigUint64(ph + 48, 0x20_0000n, true);
    b.set(s.data, off);
    off += s.data.length;
  });
  if (note) {
    const ph = 64 + 56 * o.segments.length;
    v.setUint32(ph, 4, true); // PT_NOTE
    v.setBigUint64(ph + 8, BigInt(dataStart), true);
    v.setBigUint64(ph + 32, BigInt(note.length), true);
    v.setBigUint64(ph + 48, 4n, true);
    b.set(note, dataStart);
  }
  return b;
}

function pvhNote(entry: number): Uint8Array {
  // A "GNU" build-id note (namesz 4, descsz 8, type 3), then "Xen" PHYS32_ENTRY (type 18).
  const n = new Uint8Array(12 + 4 + 8 + 12 + 4 + 4);
  const v = new DataView(n.buffer);
  v.setUint32(0, 4, true);
  v.setUint32(4, 8, true);
  v.setUint32(8, 3, true);
  n.set([0x47, 0x4e, 0x55, 0], 12);
  v.setUint32(24, 4, true);
  v.setUint32(28, 4, true);
  v.setUint32(32, 18, true);
  n.set([0x58, 0x65, 0x6e, 0], 36);
  v.setUint32(40, entry, true);
  return n;
}

/** Options of {@link makeBzImage}; every header field has a realistic default. */
export interface FakeBzImage {
  payload: Uint8Array;
  version?: number;
  magic?: number;
  bootFlag?: number;
  xloadflags?: number;
  loadflags?: number;
  /** Written as is (0 means 4 to the parser). */
  setupSects?: number;
  initSize?: number;
  prefAddress?: bigint;
  kernelAlignment?: number;
  relocatable?: boolean;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  /** Where the header ends (the short jump's target). */
  headerEnd?: number;
  /** syssize in paragraphs; defaults to what the payload needs. */
  syssize?: number;
}

/**
 * A synthetic bzImage: setup sectors holding a setup header, then `payload` as the
 * protected-mode part.
 *
 * @example
 * ```ts
 * const bz = makeBzImage({ version: 0x020f, payload: new Uint8Array(4096) });
 * ```
 */
export function makeBzImage(o: FakeBzImage): Uint8Array {
  const sects = o.setupSects ?? 4;
  const setup = ((sects || 4) + 1) * 512;
  const b = new Uint8Array(setup + o.payload.length);
  const v = new DataView(b.buffer);
  b[0x1f1] = sects;
  v.setUint32(0x1f4, o.syssize ?? Math.ceil(o.payload.length / 16), true);
  v.setUint16(0x1fe, o.bootFlag ?? 0xaa55, true);
  b[0x200] = 0xeb;
  b[0x201] = (o.headerEnd ?? 0x26c) - 0x202;
  v.setUint32(0x202, o.magic ?? 0x5372_6448, true);
  v.setUint16(0x206, o.version ?? 0x020f, true);
  b[0x211] = o.loadflags ?? 1;
  v.setUint32(0x22c, o.initrdAddrMax ?? 0x7fff_ffff, true);
  v.setUint32(0x230, o.kernelAlignment ?? 0x20_0000, true);
  b[0x234] = (o.relocatable ?? true) ? 1 : 0;
  v.setUint16(0x236, o.xloadflags ?? 0x3, true);
  v.setUint32(0x238, o.cmdlineSize ?? 2047, true);
  v.setBigUint64(0x258, o.prefAddress ?? 0x100_0000n, true);
  v.setUint32(0x260, o.initSize ?? o.payload.length, true);
  b.set(o.payload, setup);
  return b;
}

/**
 * The directory of a built default guest (`$XDG_CACHE_HOME` or `$HOME/.cache`, then
 * `denovmm/guest/<hash>/`) holding a finished `vmlinux` and `bzImage`, if there is one.
 *
 * @example
 * ```ts
 * const dir = builtGuestDir(); // undefined until `deno task guest` has run
 * ```
 */
export function builtGuestDir(): string | undefined {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const roots = [xdg, `${Deno.env.get("HOME") ?? "/root"}/.cache`].filter((r) => !!r);
  for (const root of roots) {
    const cache = `${root}/denovmm/guest`;
    if (!existsSync(cache)) continue;
    // The builder fills `<hash>.tmp/` and renames it when done; manifest.json marks a finished one.
    const dir = readdirSync(cache).filter((d) => !d.endsWith(".tmp")).map((d) => `${cache}/${d}`)
      .find((d) => ["vmlinux", "bzImage", "manifest.json"].every((f) => existsSync(`${d}/${f}`)));
    if (dir !== undefined) return dir;
  }
  return undefined;
}
