/**
 * Ethernet MAC addresses for net devices: parsing `XX:XX:XX:XX:XX:XX`, printing, and the
 * default address a device gets when none is given.
 *
 * @module
 */

/** Six bytes. */
export type MacAddress = Uint8Array;

/**
 * Parses `52:54:00:12:34:56` (colons or dashes, any case). Throws with a plain reason for
 * anything else, for a multicast address (low bit of the first byte) and for all zeroes.
 *
 * @example
 * ```ts
 * parseMac("02:00:00:00:00:01"); // Uint8Array [2, 0, 0, 0, 0, 1]
 * ```
 */
export function parseMac(text: string): MacAddress {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`"${text}" is not a MAC address (six hex pairs, like 02:00:00:00:00:01)`);
  }
  const mac = new Uint8Array(parts.map((p) => parseInt(p, 16)));
  if (mac[0] & 1) throw new Error(`${text} is a multicast address; a NIC needs a unicast one`);
  if (mac.every((b) => b === 0)) throw new Error(`${text} is not a usable MAC address`);
  return mac;
}

/**
 * `02:00:00:00:00:01` form.
 *
 * @example
 * ```ts
 * formatMac(new Uint8Array([2, 0, 0, 0, 0, 1])); // "02:00:00:00:00:01"
 * ```
 */
export function formatMac(mac: MacAddress): string {
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * The MAC a device on tap `tap` gets when none is given: locally administered and unicast (the
 * U/L bit of the first byte set, the I/G bit clear), every other bit from a hash of the tap name,
 * so the same tap gets the same address on every boot (ARP caches and DHCP leases stay valid)
 * and different taps get different ones.
 *
 * @example
 * ```ts
 * formatMac(defaultMac("tap0")); // the same value on every call
 * ```
 */
export function defaultMac(tap: string): MacAddress {
  // FNV-1a, 64-bit.
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(tap)) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffff_ffff_ffff_ffffn;
  }
  const mac = new Uint8Array(6);
  mac[0] = 0x02 | (Number(h >> 56n) & 0xfc); // U/L bit set, I/G bit clear
  for (let i = 1; i < 6; i++) mac[i] = Number((h >> BigInt(8 * (i - 1))) & 0xffn);
  return mac;
}
