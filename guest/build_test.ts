/**
 * Unit tests of the guest build that need no kernel build: hashing, the config fragment and its
 * verification, host checks, ELF facts, the build lock, the cache lookup, the initramfs packer
 * and the /init script's syntax.
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { withBuildLock } from "./build_lock.ts";
import { findCachedGuest, pruneOldKernelTrees } from "./builder.ts";
import { elfFacts } from "./elf_facts.ts";
import { type HostProbe, missingPackages } from "./host_tools.ts";
import { packInitramfs } from "./initramfs.ts";
import {
  DEFAULT_SOURCES,
  guestHash,
  guestInputs,
  type GuestSources,
  hashInputs,
  kernelHash,
} from "./inputs.ts";
import { configMismatches, normalizeFragment, parseConfig } from "./kconfig.ts";
import { BuildStepError, logTail, runLogged } from "./run_logged.ts";

function tempDir(): string {
  return mkdtempSync(`${tmpdir()}/denovmm-guest-test-`);
}

/** A set of fake inputs in a temporary directory. */
function fakeSources(dir: string): GuestSources {
  mkdirSync(`${dir}/patches`);
  writeFileSync(`${dir}/kernel.config`, "# comment\nCONFIG_SMP=y\nCONFIG_PCI=n\n");
  writeFileSync(`${dir}/patches/0001-a.patch`, "--- a/x\n+++ b/x\n");
  writeFileSync(`${dir}/init.sh`, "#!/bin/sh\necho hi\n");
  writeFileSync(`${dir}/linux.tar.xz`, "tarball");
  writeFileSync(`${dir}/busybox`, "busybox");
  writeFileSync(`${dir}/agent`, "agent v1");
  return {
    fragment: `${dir}/kernel.config`,
    patchDir: `${dir}/patches`,
    initScript: `${dir}/init.sh`,
    linuxTarball: `${dir}/linux.tar.xz`,
    busybox: `${dir}/busybox`,
    extraFiles: [],
  };
}

Deno.test("hashInputs: 16 hex digits; labels, data and order all count", () => {
  const h = hashInputs([{ label: "a", data: "bc" }]);
  assert.match(h, /^[0-9a-f]{16}$/);
  assert.equal(hashInputs([{ label: "a", data: "bc" }]), h);
  assert.notEqual(hashInputs([{ label: "ab", data: "c" }]), h);
  assert.notEqual(hashInputs([{ label: "a", data: "bd" }]), h);
  assert.notEqual(hashInputs([{ label: "a", data: new Uint8Array([98, 99, 0]) }]), h);
  const two = [{ label: "x", data: "1" }, { label: "y", data: "2" }];
  assert.notEqual(hashInputs(two), hashInputs([...two].reverse()));
});

Deno.test("kernelHash and guestHash change exactly when their inputs change", async (t) => {
  const dir = tempDir();
  try {
    const src = fakeSources(dir);
    let k = kernelHash(src);
    let g = guestHash(src);
    const expect = (what: string, kernelChanges: boolean) => {
      const k2 = kernelHash(src);
      const g2 = guestHash(src);
      assert.equal(k2 !== k, kernelChanges, `${what}: kernel hash`);
      assert.notEqual(g2, g, `${what}: guest hash`);
      k = k2;
      g = g2;
    };
    await t.step("a fragment option", () => {
      writeFileSync(src.fragment, "# comment\nCONFIG_SMP=y\nCONFIG_PCI=y\n");
      expect("fragment option", true);
    });
    await t.step("fragment comments and order do not count", () => {
      writeFileSync(src.fragment, "CONFIG_PCI=y\n# another comment\n\nCONFIG_SMP=y\n");
      assert.equal(kernelHash(src), k);
      assert.equal(guestHash(src), g);
    });
    await t.step("a patch's text, and a new patch", () => {
      writeFileSync(`${dir}/patches/0001-a.patch`, "--- a/x\n+++ b/x\n@@\n");
      expect("patch text", true);
      writeFileSync(`${dir}/patches/0002-b.patch`, "--- a/y\n+++ b/y\n");
      expect("new patch", true);
    });
    await t.step("the source tarball's size or mtime", () => {
      writeFileSync(src.linuxTarball, "tarball, newer");
      expect("tarball size", true);
      utimesSync(src.linuxTarball, new Date(2000, 1, 1), new Date(2000, 1, 1));
      expect("tarball mtime", true);
    });
    await t.step("busybox and /init change the guest only", () => {
      utimesSync(src.busybox, new Date(2001, 1, 1), new Date(2001, 1, 1));
      expect("busybox mtime", false);
      writeFileSync(src.initScript, "#!/bin/sh\necho hello\n");
      expect("init script", false);
    });
    await t.step("extra files: their presence, content and mode", () => {
      src.extraFiles = [{ src: `${dir}/agent`, dest: "/bin/agent", mode: 0o755 }];
      expect("extra file added", false);
      writeFileSync(`${dir}/agent`, "agent v2");
      expect("extra file content", false);
      src.extraFiles = [{ src: `${dir}/agent`, dest: "/bin/agent", mode: 0o700 }];
      expect("extra file mode", false);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("guestInputs covers the recipe version, the kernel, busybox, /init and /etc", () => {
  const labels = guestInputs(DEFAULT_SOURCES).map((i) => i.label);
  for (const want of ["recipe", "kernel", "busybox", "init", "etc"]) {
    assert.ok(labels.includes(want), want);
  }
});

Deno.test("parseConfig: set options, 'is not set' as n, quoted strings; comments skipped", () => {
  const c = parseConfig(
    [
      "# a comment mentioning CONFIG_FOO=y",
      "CONFIG_SMP=y",
      "  CONFIG_NR_CPUS=64  ",
      "# CONFIG_PCI is not set",
      'CONFIG_LOCALVERSION="-denovmm"',
      "CONFIG_ACPI=n",
      "",
    ].join("\n"),
  );
  assert.deepEqual([...c], [
    ["CONFIG_SMP", "y"],
    ["CONFIG_NR_CPUS", "64"],
    ["CONFIG_PCI", "n"],
    ["CONFIG_LOCALVERSION", '"-denovmm"'],
    ["CONFIG_ACPI", "n"],
  ]);
  assert.equal(
    normalizeFragment(parseConfig("CONFIG_B=y\n# x\nCONFIG_A=n")),
    "CONFIG_A=n\nCONFIG_B=y\n",
  );
});

Deno.test("configMismatches names every option that did not stick", () => {
  const fragment = parseConfig(
    [
      "CONFIG_SMP=y",
      "CONFIG_NR_CPUS=64",
      'CONFIG_LOCALVERSION="-denovmm"',
      "CONFIG_PVH=y",
      "CONFIG_PCI=n",
      "CONFIG_RANDOMIZE_BASE=n",
      "CONFIG_ACPI=n",
    ].join("\n"),
  );
  const dotConfig = [
    "CONFIG_SMP=y",
    "CONFIG_NR_CPUS=8",
    'CONFIG_LOCALVERSION="-denovmm"',
    "# CONFIG_PCI is not set",
    "CONFIG_RANDOMIZE_BASE=y",
  ].join("\n");
  assert.deepEqual(configMismatches(fragment, dotConfig), [
    "CONFIG_NR_CPUS=64 (got 8)",
    "CONFIG_PVH=y (got unset)",
    "CONFIG_RANDOMIZE_BASE=n (got y)",
  ]);
  // An n option absent from .config (its dependencies are off) is fine.
  const withoutRandomize = dotConfig.replace("CONFIG_RANDOMIZE_BASE=y", "");
  assert.deepEqual(configMismatches(fragment, withoutRandomize), [
    "CONFIG_NR_CPUS=64 (got 8)",
    "CONFIG_PVH=y (got unset)",
  ]);
});

Deno.test("guest/kernel.config asks for what the VMM relies on", () => {
  const c = parseConfig(readFileSync(DEFAULT_SOURCES.fragment, "utf8"));
  const want: Record<string, string> = {
    CONFIG_VIRTIO_MMIO: "y",
    CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES: "y",
    CONFIG_VIRTIO_BLK: "y",
    CONFIG_VIRTIO_NET: "y",
    CONFIG_VIRTIO_CONSOLE: "y",
    CONFIG_HW_RANDOM_VIRTIO: "y",
    CONFIG_VIRTIO_VSOCKETS: "y",
    CONFIG_SERIAL_8250_CONSOLE: "y",
    CONFIG_PVH: "y",
    CONFIG_X86_MPPARSE: "y",
    CONFIG_DEVTMPFS_MOUNT: "y",
    CONFIG_RD_GZIP: "y",
    CONFIG_EXT4_FS: "y",
    CONFIG_MODULES: "n",
    CONFIG_PCI: "n",
    CONFIG_ACPI: "n",
    CONFIG_RANDOMIZE_BASE: "n",
    CONFIG_PTP_1588_CLOCK_KVM: "n",
    CONFIG_LOCALVERSION: '"-denovmm"',
  };
  for (const [k, v] of Object.entries(want)) assert.equal(c.get(k), v, k);
  const uarts = Number(c.get("CONFIG_SERIAL_8250_NR_UARTS"));
  assert.ok(uarts >= 1 && uarts <= 4, `NR_UARTS ${uarts}`);
});

Deno.test("each patch says why before its diff, and touches only the kernel tree", () => {
  const dir = DEFAULT_SOURCES.patchDir;
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".patch"));
  assert.equal(names.length, 3);
  for (const name of names) {
    const text = readFileSync(`${dir}/${name}`, "utf8");
    const header = text.slice(0, text.indexOf("\n--- a/"));
    assert.match(header, /Why: .*kvm_pvm/s, name);
    assert.match(header, /harmless|never taken/, name);
    for (const m of text.matchAll(/^\+\+\+ b\/(\S+)/gm)) assert.match(m[1], /^arch\/x86\//, name);
  }
});

Deno.test("init.sh passes sh -n (dash and busybox) and has the markers the VMM looks for", async () => {
  const init = DEFAULT_SOURCES.initScript;
  const shells = [["sh"], ["/bin/busybox", "sh"]].filter(([s]) => s === "sh" || isFile(s));
  for (const sh of shells) {
    const out = await new Deno.Command(sh[0], {
      args: [...sh.slice(1), "-n", init],
      stderr: "piped",
    })
      .output();
    assert.ok(out.success, `${sh.join(" ")} -n: ${new TextDecoder().decode(out.stderr)}`);
  }
  // The same check fails on a broken script, so a pass above means something.
  const bad = await new Deno.Command("sh", {
    args: ["-n", "-c", "if true; then echo"],
    stderr: "null",
  })
    .output();
  assert.equal(bad.success, false);
  const text = readFileSync(init, "utf8");
  assert.match(text, /^mount -a$/m);
  assert.match(text, /^echo DENOVMM_READY$/m);
  assert.match(text, /DENOVMM_EXIT=\$\?/);
  assert.match(text, /sh -c "\$\*"/);
  assert.match(text, /^reboot -f$/m);
  assert.match(text, /denovmm\.ip=/);
});

function isFile(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

Deno.test("missingPackages names the apt packages for what is absent", () => {
  const src = { ...DEFAULT_SOURCES, linuxTarball: "/nonexistent/linux.tar.xz" };
  const host: HostProbe = {
    hasCommand: (c) => !["flex", "xz"].includes(c),
    exists: (p) => p !== "/usr/include/libelf.h" && p !== src.linuxTarball,
    read: () => staticElf(),
  };
  const r = missingPackages(src, host);
  assert.deepEqual(r.packages.sort(), ["flex", "libelf-dev", "linux-source-6.1", "xz-utils"]);
  assert.deepEqual(r.notes, []);

  const dynamicBusybox = missingPackages(DEFAULT_SOURCES, {
    hasCommand: () => true,
    exists: () => true,
    read: () => staticElf({ interp: true }),
  });
  assert.deepEqual(dynamicBusybox.packages, ["busybox-static"]);
  assert.match(dynamicBusybox.notes[0], /dynamically linked/);
});

/** A minimal ELF64 x86-64 executable: one PT_LOAD, optionally PT_INTERP and a PVH note. */
function staticElf(o: { interp?: boolean; pvhEntry?: number } = {}): Uint8Array {
  const phnum = 1 + (o.interp ? 1 : 0) + (o.pvhEntry !== undefined ? 1 : 0);
  const noteAt = 64 + 56 * phnum;
  const b = new Uint8Array(noteAt + 24);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 62, true); // x86-64
  v.setBigUint64(24, 0x1000000n, true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, phnum, true);
  let ph = 64;
  const header = (type: number, offset: number, paddr: bigint, size: number) => {
    v.setUint32(ph, type, true);
    v.setBigUint64(ph + 8, BigInt(offset), true);
    v.setBigUint64(ph + 16, paddr | 0xffffffff80000000n, true);
    v.setBigUint64(ph + 24, paddr, true);
    v.setBigUint64(ph + 32, BigInt(size), true);
    v.setBigUint64(ph + 40, BigInt(size), true);
    ph += 56;
  };
  header(1, 0, 0x1000000n, b.length);
  if (o.interp) header(3, 0, 0n, 0);
  if (o.pvhEntry !== undefined) {
    header(4, noteAt, 0n, 24);
    v.setUint32(noteAt, 4, true); // namesz "Xen\0"
    v.setUint32(noteAt + 4, 8, true); // descsz
    v.setUint32(noteAt + 8, 18, true); // XEN_ELFNOTE_PHYS32_ENTRY
    b.set([0x58, 0x65, 0x6e, 0], noteAt + 12);
    v.setBigUint64(noteAt + 16, BigInt(o.pvhEntry), true);
  }
  return b;
}

Deno.test("elfFacts: static or dynamic, load segments, the PVH entry note", () => {
  const plain = elfFacts(staticElf());
  assert.equal(plain.x86_64, true);
  assert.equal(plain.dynamic, false);
  assert.equal(plain.pvhEntry, undefined);
  assert.deepEqual(plain.loads.map((l) => l.paddr), [0x1000000n]);
  assert.equal(elfFacts(staticElf({ interp: true })).dynamic, true);
  assert.equal(elfFacts(staticElf({ pvhEntry: 0x10006a0 })).pvhEntry, 0x10006a0);
  assert.throws(() => elfFacts(new TextEncoder().encode("#!/bin/sh\n".padEnd(80))), /not a 64-bit/);
  const truncated = staticElf().slice(0, 80);
  assert.throws(() => elfFacts(truncated), /past the end/);
});

Deno.test({
  name: "elfFacts on the host: busybox-static is static, /bin/ls is not",
  ignore: !isFile("/bin/busybox") || !isFile("/bin/ls"),
  fn: () => {
    assert.equal(elfFacts(readFileSync("/bin/busybox")).dynamic, false);
    assert.equal(elfFacts(readFileSync("/bin/ls")).dynamic, true);
  },
});

Deno.test("withBuildLock: a second holder waits for the first, and is told it waits", async () => {
  const dir = tempDir();
  try {
    const lock = `${dir}/sub/.lock`;
    const order: string[] = [];
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((r) => (releaseFirst = r));
    let firstIn!: () => void;
    const firstEntered = new Promise<void>((r) => (firstIn = r));
    const first = withBuildLock(lock, () => order.push("first waited"), async () => {
      order.push("first in");
      firstIn();
      await firstHolds;
      order.push("first out");
    });
    await firstEntered;
    const second = withBuildLock(lock, () => order.push("second waits"), () => {
      order.push("second in");
      return Promise.resolve(42);
    });
    await new Promise((r) => setTimeout(r, 800));
    assert.deepEqual(order, ["first in", "second waits"]);
    releaseFirst();
    await first;
    assert.equal(await second, 42);
    assert.deepEqual(order, ["first in", "second waits", "first out", "second in"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("findCachedGuest takes a directory only once its manifest is written", () => {
  const dir = tempDir();
  try {
    const src = fakeSources(mkdirp(`${dir}/src`));
    const root = `${dir}/cache`;
    assert.equal(findCachedGuest(src, root), undefined);
    const out = `${root}/guest/${guestHash(src)}`;
    mkdirSync(out, { recursive: true });
    writeFileSync(`${out}/vmlinux`, "");
    assert.equal(findCachedGuest(src, root), undefined);
    writeFileSync(`${out}/manifest.json`, "{}");
    assert.deepEqual(findCachedGuest(src, root), {
      kernel: `${out}/vmlinux`,
      bzImage: `${out}/bzImage`,
      initrd: `${out}/initramfs.cpio`,
      initrdGz: `${out}/initramfs.cpio.gz`,
      rootfs: `${out}/rootfs.ext4`,
      systemMap: `${out}/System.map`,
      dir: out,
    });
    writeFileSync(src.initScript, "#!/bin/sh\n# changed\n");
    assert.equal(findCachedGuest(src, root), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function mkdirp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

Deno.test("runLogged: output goes to the log; a failure throws with the log's tail", async () => {
  const dir = tempDir();
  try {
    const log = `${dir}/build.log`;
    await runLogged("sh", ["-c", "echo to-stdout; echo to-stderr >&2"], { log });
    const text = readFileSync(log, "utf8");
    assert.match(text, /to-stdout\nto-stderr/);
    await assert.rejects(
      runLogged("sh", ["-c", "echo the-reason; exit 3"], { log }),
      (e: unknown) =>
        e instanceof BuildStepError && /exit 3/.test(e.message) && /the-reason/.test(e.message),
    );
    assert.equal(logTail(log, 1), "the-reason");
    assert.equal(logTail(`${dir}/missing.log`, 5), "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test({
  name: "packInitramfs: busybox and its applets, /init, extra files, all owned by root",
  ignore: !isFile("/bin/busybox"),
  fn: async () => {
    const dir = tempDir();
    try {
      writeFileSync(`${dir}/agent`, "#!/bin/sh\necho agent\n");
      const out = `${dir}/out/initramfs.cpio`;
      await packInitramfs({
        busybox: "/bin/busybox",
        initScript: DEFAULT_SOURCES.initScript,
        extraFiles: [{ src: `${dir}/agent`, dest: "/usr/bin/agent", mode: 0o750 }],
      }, { staging: `${dir}/root`, out, log: `${dir}/pack.log` });
      const list = await new Deno.Command("sh", {
        args: ["-c", 'cpio -itv --quiet < "$1"', "sh", out],
        stdout: "piped",
      }).output();
      assert.ok(list.success);
      const entries = new Map<string, string>();
      for (const line of new TextDecoder().decode(list.stdout).split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length < 9) continue;
        entries.set(f[8], line);
        assert.equal(`${f[2]}:${f[3]}`, "root:root", line);
      }
      assert.match(entries.get("init") ?? "", /^-rwxr-xr-x/);
      assert.match(entries.get("bin/busybox") ?? "", /^-rwxr-xr-x/);
      assert.match(entries.get("bin/sh") ?? "", /^l.* -> \/bin\/busybox$/);
      assert.match(entries.get("sbin/reboot") ?? "", /-> \/bin\/busybox$/);
      assert.match(entries.get("usr/bin/agent") ?? "", /^-rwxr-x---/);
      for (const d of ["dev", "proc", "sys", "tmp", "run", "etc"]) {
        assert.match(entries.get(d) ?? "", /^d/, d);
      }
      assert.ok(entries.has("etc/passwd"));
      assert.ok(!entries.has("."), "no entry for the root directory itself");
      const member = async (name: string) => {
        const r = await new Deno.Command("sh", {
          args: ["-c", 'cpio -i --to-stdout --quiet "$2" < "$1"', "sh", out, name],
          stdout: "piped",
        }).output();
        return new TextDecoder().decode(r.stdout);
      };
      assert.equal(await member("init"), readFileSync(DEFAULT_SOURCES.initScript, "utf8"));
      const gunzipped = await new Deno.Command("gzip", {
        args: ["-dc", `${out}.gz`],
        stdout: "piped",
      })
        .output();
      assert.ok(gunzipped.success);
      assert.deepEqual(gunzipped.stdout, new Uint8Array(readFileSync(out)));
      // /init mounts these with one `mount -a`.
      const mounts = (await member("etc/fstab")).split("\n").filter((l) => l.trim() !== "")
        .map((l) => l.split(/\s+/).slice(0, 3).join(" "));
      assert.deepEqual(mounts, [
        "proc /proc proc",
        "sysfs /sys sysfs",
        "devtmpfs /dev devtmpfs",
        "tmpfs /tmp tmpfs",
        "tmpfs /run tmpfs",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

Deno.test("pruneOldKernelTrees removes idle old trees only, never the current one", () => {
  const dir = tempDir();
  try {
    const build = `${dir}/build`;
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const name of ["linux-6.1-current", "linux-6.1-idle", "linux-6.1-busy", "other"]) {
      mkdirSync(`${build}/${name}`, { recursive: true });
      writeFileSync(`${build}/${name}/build.log`, "");
      if (name !== "linux-6.1-busy") {
        utimesSync(`${build}/${name}/build.log`, hourAgo, hourAgo);
        utimesSync(`${build}/${name}`, hourAgo, hourAgo);
      }
    }
    const said: string[] = [];
    pruneOldKernelTrees(dir, "linux-6.1-current", (l) => said.push(l));
    assert.deepEqual([...Deno.readDirSync(build)].map((e) => e.name).sort(), [
      "linux-6.1-busy",
      "linux-6.1-current",
      "other",
    ]);
    assert.equal(said.length, 1);
    assert.match(said[0], /linux-6\.1-idle/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
