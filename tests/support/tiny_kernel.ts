/**
 * Tiny "kernels" for Machine tests: a few bytes of 64-bit code wrapped in an ELF executable
 * loaded at 16 MiB, entered through the same 64-bit boot path as Linux.
 *
 * @module
 */

const LOAD = 0x100_0000;

/**
 * An ELF64 executable whose single segment holds `code` at 16 MiB (entry there).
 *
 * @example
 * ```ts
 * const kernel = tinyKernel([0xeb, 0xfe]); // jmp $
 * ```
 */
export function tinyKernel(code: number[]): Uint8Array {
  const off = 0x1000;
  const b = new Uint8Array(off + code.length);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 62, true); // x86-64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, BigInt(LOAD), true);
  v.setBigUint64(32, 64n, true); // phoff
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, 1, true);
  v.setUint32(64, 1, true); // PT_LOAD
  v.setUint32(68, 5, true);
  v.setBigUint64(72, BigInt(off), true);
  v.setBigUint64(80, BigInt(LOAD), true);
  v.setBigUint64(88, BigInt(LOAD), true);
  v.setBigUint64(96, BigInt(code.length), true);
  v.setBigUint64(104, BigInt(code.length), true);
  b.set(code, off);
  return b;
}

/** `jmp $`: spins until stopped. */
export const SPIN = [0xeb, 0xfe];

/** Writes 0xFE to the i8042 command port (what `reboot=k` does), then spins. */
export const I8042_RESET = [0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe];

/**
 * Prints `text` on COM1 byte by byte, then resets through the i8042.
 *
 * @example
 * ```ts
 * tinyKernel(printThenReset("Kernel panic - not syncing: test\n"));
 * ```
 */
export function printThenReset(text: string): number[] {
  const msg = [...new TextEncoder().encode(text), 0];
  return [
    0x48,
    0x8d,
    0x35,
    0x12,
    0x00,
    0x00,
    0x00, // lea rsi, [rip + 0x12] (the message)
    0x66,
    0xba,
    0xf8,
    0x03, // mov dx, 0x3f8
    0xac, // lodsb
    0x84,
    0xc0, // test al, al
    0x74,
    0x03, // jz +3
    0xee, // out dx, al
    0xeb,
    0xf8, // jmp lodsb
    0xb0,
    0xfe, // mov al, 0xfe
    0xe6,
    0x64, // out 0x64, al
    0xeb,
    0xfe, // jmp $
    ...msg,
  ];
}
