import assert from "node:assert/strict";
import { TUN_F } from "../../../ffi/kvm_ioctls.ts";
import { bit } from "../device.ts";
import {
  checkTxHeader,
  decodeNetHeader,
  emptyNetHeader,
  encodeNetHeader,
  fixRxHeader,
  MAX_FRAME,
  NET_HDR,
  NET_HDR_SIZE,
  netFeatureBits,
  type NetHeader,
  tapOffloadsFor,
  VIRTIO_NET_F,
  VIRTIO_NET_HDR_F,
  VIRTIO_NET_HDR_GSO,
} from "./header.ts";

const B = (...fs: bigint[]) => fs.reduce((a, f) => a | bit(f), 0n);
const F = (...fs: bigint[]) => netFeatureBits(B(...fs));
const ALL = F(
  VIRTIO_NET_F.CSUM,
  VIRTIO_NET_F.GUEST_CSUM,
  VIRTIO_NET_F.HOST_TSO4,
  VIRTIO_NET_F.HOST_TSO6,
  VIRTIO_NET_F.GUEST_TSO4,
  VIRTIO_NET_F.GUEST_TSO6,
  VIRTIO_NET_F.MRG_RXBUF,
);

function bytes(h: Partial<NetHeader>): Uint8Array {
  const b = new Uint8Array(NET_HDR_SIZE);
  encodeNetHeader({ ...emptyNetHeader(), ...h }, b);
  return b;
}

Deno.test("net header: 12 little-endian bytes in the order of virtio_net_hdr_v1", () => {
  const h: NetHeader = {
    flags: 1,
    gsoType: 4,
    hdrLen: 0x0142,
    gsoSize: 1448,
    csumStart: 54,
    csumOffset: 16,
    numBuffers: 3,
  };
  const b = bytes(h);
  assert.deepEqual([...b], [1, 4, 0x42, 0x01, 0xa8, 0x05, 54, 0, 16, 0, 3, 0]);
  assert.equal(NET_HDR.NUM_BUFFERS, 10);
  assert.deepEqual(decodeNetHeader(b, emptyNetHeader()), h);
});

Deno.test("tx header: plain frames pass and are sanitized (flags, num_buffers)", () => {
  const b = bytes({ flags: VIRTIO_NET_HDR_F.DATA_VALID | 0x40, numBuffers: 7 });
  assert.equal(checkTxHeader(b, 60, 0), null);
  assert.equal(b[NET_HDR.FLAGS], 0, "bits the device does not act on are cleared");
  assert.equal(b[NET_HDR.NUM_BUFFERS], 0);
  assert.match(checkTxHeader(bytes({}), 10, 0)!, /shorter than an Ethernet header/);
  assert.match(checkTxHeader(bytes({}), MAX_FRAME + 1, ALL)!, /larger than/);
});

Deno.test("tx header: checksum offload needs VIRTIO_NET_F_CSUM and a field inside the frame", () => {
  const csum = () => bytes({ flags: VIRTIO_NET_HDR_F.NEEDS_CSUM, csumStart: 34, csumOffset: 16 });
  assert.match(checkTxHeader(csum(), 100, 0)!, /NEEDS_CSUM without VIRTIO_NET_F_CSUM/);
  const ok = csum();
  assert.equal(checkTxHeader(ok, 100, F(VIRTIO_NET_F.CSUM)), null);
  assert.equal(ok[NET_HDR.FLAGS], VIRTIO_NET_HDR_F.NEEDS_CSUM);
  assert.match(checkTxHeader(csum(), 51, F(VIRTIO_NET_F.CSUM))!, /past the end/);
});

Deno.test("tx header: TSO only as negotiated, with NEEDS_CSUM and an MSS", () => {
  const tso = (gsoType: number, o: Partial<NetHeader> = {}) =>
    bytes({
      flags: VIRTIO_NET_HDR_F.NEEDS_CSUM,
      gsoType,
      gsoSize: 1448,
      hdrLen: 66,
      csumStart: 34,
      csumOffset: 16,
      ...o,
    });
  const csum = F(VIRTIO_NET_F.CSUM);
  assert.match(checkTxHeader(tso(1), 60000, csum)!, /gso_type 1 was not negotiated/);
  assert.equal(checkTxHeader(tso(1), 60000, csum | F(VIRTIO_NET_F.HOST_TSO4)), null);
  assert.match(checkTxHeader(tso(4), 60000, csum | F(VIRTIO_NET_F.HOST_TSO4))!, /not negotiated/);
  assert.equal(checkTxHeader(tso(4), 60000, csum | F(VIRTIO_NET_F.HOST_TSO6)), null);
  assert.match(checkTxHeader(tso(VIRTIO_NET_HDR_GSO.UDP), 60000, ALL)!, /not negotiated/);
  assert.match(checkTxHeader(tso(VIRTIO_NET_HDR_GSO.UDP_L4), 60000, ALL)!, /not negotiated/);
  assert.match(checkTxHeader(tso(1 | VIRTIO_NET_HDR_GSO.ECN), 60000, ALL)!, /ECN/);
  assert.match(checkTxHeader(tso(1, { flags: 0 }), 60000, ALL)!, /without NEEDS_CSUM/);
  assert.match(checkTxHeader(tso(1, { gsoSize: 0 }), 60000, ALL)!, /gso_size 0/);
});

Deno.test("rx header: num_buffers set, flags cleared without GUEST_CSUM, unaccepted GSO refused", () => {
  const b = bytes({ flags: VIRTIO_NET_HDR_F.DATA_VALID, numBuffers: 0x5555 });
  assert.equal(fixRxHeader(b, 1, 0), true);
  assert.equal(b[NET_HDR.FLAGS], 0, "§5.1.6.4.1: flags must be zero without GUEST_CSUM");
  assert.deepEqual([b[10], b[11]], [1, 0]);

  const v = bytes({ flags: VIRTIO_NET_HDR_F.DATA_VALID | VIRTIO_NET_HDR_F.RSC_INFO });
  assert.equal(fixRxHeader(v, 3, ALL), true);
  assert.equal(v[NET_HDR.FLAGS], VIRTIO_NET_HDR_F.DATA_VALID, "RSC_INFO was not negotiated");
  assert.equal(v[NET_HDR.NUM_BUFFERS], 3);

  const partial = bytes({ flags: VIRTIO_NET_HDR_F.NEEDS_CSUM });
  assert.equal(fixRxHeader(partial, 1, 0), false, "a partial checksum the driver cannot take");
  const gso4 = () => bytes({ flags: 1, gsoType: VIRTIO_NET_HDR_GSO.TCPV4, gsoSize: 1448 });
  assert.equal(fixRxHeader(gso4(), 1, F(VIRTIO_NET_F.GUEST_CSUM)), false);
  assert.equal(fixRxHeader(gso4(), 1, F(VIRTIO_NET_F.GUEST_CSUM, VIRTIO_NET_F.GUEST_TSO4)), true);
  const ecn = bytes({ flags: 1, gsoType: VIRTIO_NET_HDR_GSO.TCPV4 | VIRTIO_NET_HDR_GSO.ECN });
  assert.equal(fixRxHeader(ecn, 1, ALL), false);
});

Deno.test("TUNSETOFFLOAD follows the receive offloads the driver accepted", () => {
  assert.equal(tapOffloadsFor(0n), 0);
  assert.equal(tapOffloadsFor(B(VIRTIO_NET_F.GUEST_TSO4)), 0, "TSO without checksum offload");
  assert.equal(tapOffloadsFor(B(VIRTIO_NET_F.GUEST_CSUM)), TUN_F.CSUM);
  assert.equal(
    tapOffloadsFor(B(VIRTIO_NET_F.GUEST_CSUM, VIRTIO_NET_F.GUEST_TSO4, VIRTIO_NET_F.GUEST_TSO6)),
    TUN_F.CSUM | TUN_F.TSO4 | TUN_F.TSO6,
  );
  assert.equal(
    tapOffloadsFor(B(VIRTIO_NET_F.GUEST_CSUM, VIRTIO_NET_F.GUEST_TSO6, VIRTIO_NET_F.GUEST_ECN)),
    TUN_F.CSUM | TUN_F.TSO6 | TUN_F.TSO_ECN,
  );
  assert.equal(tapOffloadsFor(B(VIRTIO_NET_F.HOST_TSO4, VIRTIO_NET_F.CSUM)), 0, "transmit side");
});
