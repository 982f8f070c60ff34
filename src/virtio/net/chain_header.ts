/**
 * Moving the 12-byte virtio-net header between a chain's guest buffers and the device's own
 * header buffer. The header almost always sits in the first buffer (three 32-bit accesses);
 * a driver may also split it across descriptors (§2.7.4: any layout), which is handled byte by
 * byte. Nothing here allocates.
 *
 * @module
 */

import type { GuestMemory } from "../../memory/guest_memory.ts";
import type { ChainBuffers } from "../queue/split_queue.ts";
import { NET_HDR_SIZE } from "./header.ts";

/**
 * Copies the header from the start of the chain's buffers `first ..` into `dst` (12 bytes, with
 * `view` over it). The caller has checked that those buffers hold at least 12 bytes.
 *
 * @example
 * ```ts
 * readChainHeader(mem, chain, 0, hdr, hdrView); // transmit: the readable part starts at 0
 * ```
 */
export function readChainHeader(
  mem: GuestMemory,
  chain: ChainBuffers,
  first: number,
  dst: Uint8Array,
  view: DataView,
): void {
  const a = chain.addr[first];
  if (chain.len[first] >= NET_HDR_SIZE) {
    view.setUint32(0, mem.readU32(a), true);
    view.setUint32(4, mem.readU32(a + 4), true);
    view.setUint32(8, mem.readU32(a + 8), true);
    return;
  }
  let i = first;
  let off = 0;
  for (let k = 0; k < NET_HDR_SIZE; k++) {
    while (off >= chain.len[i]) {
      i++;
      off = 0;
    }
    dst[k] = mem.readU8(chain.addr[i] + off++);
  }
}

/**
 * Copies the header in `src` (with `view` over it) to the start of the chain's buffers
 * `first ..`. The caller has checked that those buffers hold at least 12 bytes.
 *
 * @example
 * ```ts
 * writeChainHeader(mem, chain, chain.readableCount, hdr, hdrView); // receive
 * ```
 */
export function writeChainHeader(
  mem: GuestMemory,
  chain: ChainBuffers,
  first: number,
  src: Uint8Array,
  view: DataView,
): void {
  const a = chain.addr[first];
  if (chain.len[first] >= NET_HDR_SIZE) {
    mem.writeU32(a, view.getUint32(0, true));
    mem.writeU32(a + 4, view.getUint32(4, true));
    mem.writeU32(a + 8, view.getUint32(8, true));
    return;
  }
  let i = first;
  let off = 0;
  for (let k = 0; k < NET_HDR_SIZE; k++) {
    while (off >= chain.len[i]) {
      i++;
      off = 0;
    }
    mem.writeU8(chain.addr[i] + off++, src[k]);
  }
}
