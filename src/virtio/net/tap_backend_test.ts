/**
 * The tap backend against real taps, each in a network namespace the test makes and removes
 * (root only). The kernel on the other side answers ARP, which gives frames in both directions
 * without a guest.
 */

import assert from "node:assert/strict";
import { EventLoop } from "../../vmm/event_loop.ts";
import { WOULD_BLOCK } from "./backend.ts";
import { NET_HDR_SIZE } from "./header.ts";
import { addressOf, fixedBytes, IoVecs } from "./iovecs.ts";
import { checkIfName, TapBackend, TapError } from "./tap_backend.ts";
import { listNetns, netnsPids, sweepStaleNetns, TapSetup } from "./tap_setup.ts";

const ROOT = Deno.uid() === 0;
const ignore = !ROOT;
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

/** An ARP request from 02:00:00:00:00:02 (10.66.0.2) for `target`, behind a zero vnet header. */
function arpRequest(target: number[]): Uint8Array {
  const f = new Uint8Array(NET_HDR_SIZE + 42);
  const mine = [0x02, 0, 0, 0, 0, 0x02];
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...mine, 0x08, 0x06], NET_HDR_SIZE);
  f.set([0, 1, 0x08, 0, 6, 4, 0, 1, ...mine, 10, 66, 0, 2, 0, 0, 0, 0, 0, 0, ...target], 26);
  return f;
}

const isArpReply = (b: Uint8Array, n: number) =>
  n >= NET_HDR_SIZE + 42 && b[NET_HDR_SIZE + 12] === 0x08 && b[NET_HDR_SIZE + 13] === 0x06 &&
  b[NET_HDR_SIZE + 21] === 2;

function oneBuffer(bytes: Uint8Array, len = bytes.length): IoVecs {
  const iov = new IoVecs(2);
  iov.push(addressOf(bytes), len);
  return iov;
}

Deno.test("tap: names are checked, a missing tap and a non-tap interface are plain errors", () => {
  assert.throws(() => checkIfName(""), TapError);
  assert.throws(() => checkIfName("a-very-long-interface-name"), /1 to 15 characters/);
  assert.throws(() => checkIfName("a/b"), /not a network interface name/);
  assert.throws(
    () => TapBackend.open("dvnosuchtap0"),
    (e) =>
      e instanceof TapError &&
      /^Cannot open tap dvnosuchtap0: no such network interface \(create it with: ip tuntap add dev dvnosuchtap0 mode tap\)$/
        .test(e.message),
  );
  if (ROOT) {
    assert.throws(() => TapBackend.open("lo"), /Cannot open tap lo: lo is not a tap device/);
  }
});

Deno.test({
  name: "tap: frames both ways through the kernel, tap read semantics, in-use and gone taps",
  ignore,
  fn: async () => {
    await sweepStaleNetns();
    const net = await TapSetup.create({ netns: true, address: "10.66.0.1/24", ipv6: false });
    const loop = new EventLoop((e) => {
      throw e;
    });
    try {
      const tap = TapBackend.open(net.tap, { loop, netns: net.netns });
      assert.throws(
        () => TapBackend.open(net.tap, { netns: net.netns }),
        /Cannot open tap dvtap\d+: it is in use by another process/,
      );
      let readable = 0;
      let failed = "";
      tap.attach({
        readable: () => readable++,
        writable: () => {},
        failed: (r) => (failed = r),
      });
      loop.start();
      const buf = fixedBytes(2048);
      assert.equal(tap.readv(oneBuffer(buf)), WOULD_BLOCK);

      // The kernel answers an ARP request for its address on the tap. Requests are repeated, as
      // ARP clients do: the first frames after the tap comes up may meet a qdisc not yet active.
      tap.setInterest(true, false);
      const req = arpRequest([10, 66, 0, 1]);
      const exchange = async (len: number) => {
        for (let i = 0; i < 100; i++) {
          assert.equal(tap.writev(oneBuffer(req)), req.length);
          await tick();
          buf.fill(0xee);
          for (let n = tap.readv(oneBuffer(buf, len)); n > 0; n = tap.readv(oneBuffer(buf, len))) {
            if (n === NET_HDR_SIZE + 42 && isArpReply(buf, NET_HDR_SIZE + 42)) return n;
          }
        }
        return -1;
      };
      const exchangeCut = async (len: number) => {
        for (let i = 0; i < 100; i++) {
          tap.writev(oneBuffer(req));
          await tick();
          buf.fill(0xee);
          for (let n = tap.readv(oneBuffer(buf, len)); n > 0; n = tap.readv(oneBuffer(buf, len))) {
            if (buf[NET_HDR_SIZE + 12] === 0x08 && buf[NET_HDR_SIZE + 13] === 0x06) return n;
          }
        }
        return -1;
      };
      assert.equal(await exchange(buf.length), NET_HDR_SIZE + 42, "the kernel's ARP reply");
      assert.ok(readable > 0, "the loop reported the tap readable");
      // A plain frame's header (num_buffers is the device's to set: kernels differ on it).
      assert.deepEqual([...buf.subarray(0, 10)], Array(10).fill(0));

      // A read into too short a buffer cuts the frame; kernels report the full (older) or the
      // cut (6.x) length, which is why the device always leaves room for the largest frame.
      const cut = await exchangeCut(NET_HDR_SIZE + 22);
      assert.ok(cut === NET_HDR_SIZE + 22 || cut === NET_HDR_SIZE + 42, `read ${cut}`);
      assert.equal(buf[NET_HDR_SIZE + 22], 0xee, "nothing written past the buffer");

      tap.setOffload(0x07); // CSUM | TSO4 | TSO6
      tap.setOffload(0);

      // Deleting the tap under an attached fd: reported once, then no more events.
      tap.setInterest(true, false);
      await net.remove();
      for (let i = 0; i < 100 && failed === ""; i++) await tick();
      assert.match(failed, /tap dvtap\d+ is gone/);
      tap.close();
    } finally {
      await loop.close();
      await net.remove();
    }
    assert.ok(!(await listNetns()).includes(net.netns!), "the namespace is gone");
  },
});

Deno.test({
  name: "tap: a tap owned by another user needs CAP_NET_ADMIN, and the error says so",
  ignore: ignore || !(await exists("/usr/bin/setpriv")),
  fn: async () => {
    await using net = await TapSetup.create({ netns: true, user: "nobody" });
    assert.deepEqual(await netnsPids(net.netns!), []);
    const script = `import { TapBackend } from ${
      JSON.stringify(import.meta.resolve("./tap_backend.ts"))
    };
try { TapBackend.open(${
      JSON.stringify(net.tap)
    }); console.log("opened"); } catch (e) { console.log(e.message); }`;
    const out = await new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        net.netns!,
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-all",
        Deno.execPath(),
        "eval",
        "--unstable-ffi",
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.match(
      text,
      /Cannot open tap dvtap\d+: permission denied: the tap belongs to another user or group, and attaching to it needs CAP_NET_ADMIN/,
    );
  },
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
