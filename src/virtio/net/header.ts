/**
 * The virtio-net packet header, `struct virtio_net_hdr_v1` (virtio 1.2 §5.1.6): 12 little-endian
 * bytes before every frame in both directions. The tap uses the same layout (TUNSETVNETHDRSZ 12;
 * x86 is little-endian, so no TUNSETVNETLE is needed), so a header passes between guest and tap
 * as it is, after the checks here.
 *
 * Pure: these functions read and write a 12-byte buffer and know the negotiated features; they
 * touch neither guest memory nor the tap.
 *
 * @module
 */

import { TUN_F } from "../../../ffi/kvm_ioctls.ts";

/** Size of `struct virtio_net_hdr_v1` without VIRTIO_NET_F_HASH_REPORT. */
export const NET_HDR_SIZE = 12;

/** Byte offsets in the header. */
export const NET_HDR = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
  NUM_BUFFERS: 10,
} as const;

/** `flags` bits. */
export const VIRTIO_NET_HDR_F = { NEEDS_CSUM: 1, DATA_VALID: 2, RSC_INFO: 4 } as const;

/** `gso_type` values; ECN is a bit on top of the TCP types. */
export const VIRTIO_NET_HDR_GSO = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  ECN: 0x80,
} as const;

/** The network feature bits denovmm knows (§5.1.3). */
export const VIRTIO_NET_F = {
  CSUM: 0n,
  GUEST_CSUM: 1n,
  MTU: 3n,
  MAC: 5n,
  GUEST_TSO4: 7n,
  GUEST_TSO6: 8n,
  GUEST_ECN: 9n,
  GUEST_UFO: 10n,
  HOST_TSO4: 11n,
  HOST_TSO6: 12n,
  HOST_ECN: 13n,
  HOST_UFO: 14n,
  MRG_RXBUF: 15n,
  STATUS: 16n,
  CTRL_VQ: 17n,
  MQ: 22n,
} as const;

/** Ethernet header length: shorter frames are runts. */
export const ETH_HLEN = 14;
/**
 * Largest frame in either direction (§5.1.6.3: 14 bytes of Ethernet, 40 of IPv6, 65535 of
 * payload), plus a VLAN tag the tap may insert.
 */
export const MAX_FRAME = 65589 + 4;

/** A decoded header. */
export interface NetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  numBuffers: number;
}

/**
 * Decodes the 12 header bytes into `out` (reused, so a hot path allocates nothing).
 *
 * @example
 * ```ts
 * const h = decodeNetHeader(new Uint8Array(12), emptyNetHeader());
 * h.gsoType; // 0
 * ```
 */
export function decodeNetHeader(b: Uint8Array, out: NetHeader): NetHeader {
  out.flags = b[0];
  out.gsoType = b[1];
  out.hdrLen = b[2] | (b[3] << 8);
  out.gsoSize = b[4] | (b[5] << 8);
  out.csumStart = b[6] | (b[7] << 8);
  out.csumOffset = b[8] | (b[9] << 8);
  out.numBuffers = b[10] | (b[11] << 8);
  return out;
}

/**
 * Encodes `h` into 12 bytes.
 *
 * @example
 * ```ts
 * const b = new Uint8Array(12);
 * encodeNetHeader({ ...emptyNetHeader(), numBuffers: 1 }, b); // b[10] === 1
 * ```
 */
export function encodeNetHeader(h: NetHeader, b: Uint8Array): void {
  b[0] = h.flags;
  b[1] = h.gsoType;
  put16(b, NET_HDR.HDR_LEN, h.hdrLen);
  put16(b, NET_HDR.GSO_SIZE, h.gsoSize);
  put16(b, NET_HDR.CSUM_START, h.csumStart);
  put16(b, NET_HDR.CSUM_OFFSET, h.csumOffset);
  put16(b, NET_HDR.NUM_BUFFERS, h.numBuffers);
}

/** A zeroed header. @example `emptyNetHeader().flags // 0` */
export function emptyNetHeader(): NetHeader {
  return {
    flags: 0,
    gsoType: 0,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: 0,
    csumOffset: 0,
    numBuffers: 0,
  };
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >> 8) & 0xff;
}

/**
 * The low 32 feature bits as a number, which is what the per-frame checks take: every
 * network feature they look at is below bit 32, and number tests allocate nothing where BigInt
 * ones allocate on every operation.
 *
 * @example
 * ```ts
 * const bits = netFeatureBits(negotiated);
 * ```
 */
export function netFeatureBits(features: bigint): number {
  return Number(features & 0xffff_ffffn);
}

const has = (bits: number, f: bigint) => (bits & (1 << Number(f))) !== 0;

/**
 * Checks a transmitted header against the negotiated features (§5.1.6.2.1) and the frame's
 * length (`features`: {@link netFeatureBits}), and sanitizes it in place for the tap: `flags` keeps only NEEDS_CSUM (the device
 * ignores bits it does not act on, and DATA_VALID / RSC_INFO are not for transmit) and
 * `num_buffers` becomes 0. Returns null when the frame may go out, or why it may not.
 *
 * @example
 * ```ts
 * const why = checkTxHeader(hdrBytes, 1514, netFeatureBits(negotiated));
 * if (why !== null) drop(why);
 * ```
 */
export function checkTxHeader(b: Uint8Array, frameLen: number, features: number): string | null {
  if (frameLen < ETH_HLEN) return `frame of ${frameLen} bytes is shorter than an Ethernet header`;
  if (frameLen > MAX_FRAME) return `frame of ${frameLen} bytes is larger than ${MAX_FRAME}`;
  const flags = b[NET_HDR.FLAGS];
  const gsoType = b[NET_HDR.GSO_TYPE];
  const needsCsum = (flags & VIRTIO_NET_HDR_F.NEEDS_CSUM) !== 0;
  if (needsCsum) {
    if (!has(features, VIRTIO_NET_F.CSUM)) return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
    const start = b[6] | (b[7] << 8);
    const offset = b[8] | (b[9] << 8);
    if (start + offset + 2 > frameLen) return "checksum field past the end of the frame";
  }
  const gso = gsoType & ~VIRTIO_NET_HDR_GSO.ECN;
  if (gsoType !== VIRTIO_NET_HDR_GSO.NONE) {
    const allowed = (gso === VIRTIO_NET_HDR_GSO.TCPV4 && has(features, VIRTIO_NET_F.HOST_TSO4)) ||
      (gso === VIRTIO_NET_HDR_GSO.TCPV6 && has(features, VIRTIO_NET_F.HOST_TSO6));
    if (!allowed) return `gso_type ${gsoType} was not negotiated`;
    if ((gsoType & VIRTIO_NET_HDR_GSO.ECN) !== 0 && !has(features, VIRTIO_NET_F.HOST_ECN)) {
      return "GSO with ECN without VIRTIO_NET_F_HOST_ECN";
    }
    if (!needsCsum) return "GSO frame without NEEDS_CSUM";
    if ((b[4] | (b[5] << 8)) === 0) return "GSO frame with gso_size 0";
  }
  b[NET_HDR.FLAGS] = flags & VIRTIO_NET_HDR_F.NEEDS_CSUM;
  b[NET_HDR.NUM_BUFFERS] = 0;
  b[NET_HDR.NUM_BUFFERS + 1] = 0;
  return null;
}

/**
 * Fixes up a header the tap produced before the guest sees it (§5.1.6.4.1): `num_buffers` is
 * set (always 1 without VIRTIO_NET_F_MRG_RXBUF), and `flags` is cleared unless the driver took
 * VIRTIO_NET_F_GUEST_CSUM (the tap reports DATA_VALID whatever its offloads). Returns false when
 * the frame carries an offload the driver did not accept, so it cannot be delivered. `features`
 * is {@link netFeatureBits} of what was negotiated.
 *
 * @example
 * ```ts
 * if (!fixRxHeader(hdrBytes, 1, netFeatureBits(negotiated))) drop();
 * ```
 */
export function fixRxHeader(b: Uint8Array, numBuffers: number, features: number): boolean {
  const gsoType = b[NET_HDR.GSO_TYPE];
  if (gsoType !== VIRTIO_NET_HDR_GSO.NONE) {
    const gso = gsoType & ~VIRTIO_NET_HDR_GSO.ECN;
    const ok = (gso === VIRTIO_NET_HDR_GSO.TCPV4 && has(features, VIRTIO_NET_F.GUEST_TSO4)) ||
      (gso === VIRTIO_NET_HDR_GSO.TCPV6 && has(features, VIRTIO_NET_F.GUEST_TSO6));
    if (!ok) return false;
    if ((gsoType & VIRTIO_NET_HDR_GSO.ECN) !== 0 && !has(features, VIRTIO_NET_F.GUEST_ECN)) {
      return false;
    }
  }
  if (!has(features, VIRTIO_NET_F.GUEST_CSUM)) {
    if (b[NET_HDR.FLAGS] & VIRTIO_NET_HDR_F.NEEDS_CSUM) return false;
    b[NET_HDR.FLAGS] = 0;
  } else {
    b[NET_HDR.FLAGS] &= VIRTIO_NET_HDR_F.NEEDS_CSUM | VIRTIO_NET_HDR_F.DATA_VALID;
  }
  put16(b, NET_HDR.NUM_BUFFERS, numBuffers);
  return true;
}

/**
 * The TUNSETOFFLOAD bits for what the driver accepted: those are the frames the tap may hand
 * the device for the guest (GUEST_CSUM → TUN_F_CSUM, GUEST_TSO4 → TUN_F_TSO4, ...). TSO without
 * checksum offload means nothing to the tap, so it is left out.
 *
 * @example
 * ```ts
 * tap.setOffload(tapOffloadsFor(negotiated));
 * ```
 */
export function tapOffloadsFor(negotiated: bigint): number {
  const features = netFeatureBits(negotiated);
  if (!has(features, VIRTIO_NET_F.GUEST_CSUM)) return 0;
  let f: number = TUN_F.CSUM;
  if (has(features, VIRTIO_NET_F.GUEST_TSO4)) f |= TUN_F.TSO4;
  if (has(features, VIRTIO_NET_F.GUEST_TSO6)) f |= TUN_F.TSO6;
  if ((f & (TUN_F.TSO4 | TUN_F.TSO6)) !== 0 && has(features, VIRTIO_NET_F.GUEST_ECN)) {
    f |= TUN_F.TSO_ECN;
  }
  return f;
}
