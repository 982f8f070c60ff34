/**
 * Boot benchmark: denovmm beside `qemu-system-x86_64 -M microvm -enable-kvm`, booting the same
 * default-guest kernel and initramfs with the same command line, in the same run.
 *
 * For each VMM it measures (medians over `--runs`, alternating the two so host noise hits both):
 * - time from process start to the first `KVM_RUN` ioctl (seen with `strace -f -e ioctl`, in a
 *   separate short run that is killed right after, so tracing never slows the boot runs);
 * - time from process start to the guest's `DENOVMM_READY` line on the console;
 * - peak VMM memory: the process's resident set minus the resident part of the guest-RAM mapping,
 *   sampled every 100 ms from /proc/PID/smaps.
 *
 * Usage: `deno task bench [--runs N] [--mem MiB] [--kernel vmlinux|bzimage]`
 *
 * @module
 */

import { defaultGuest } from "../guest/paths.ts";
import { isPvmHost, PVM_CMDLINE } from "../src/cpu/pvm.ts";
import { DEFAULT_CMDLINE } from "../src/vmm/machine.ts";

const args = Object.fromEntries(
  Deno.args.flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1] ?? ""]] : [])),
);
const runs = Number(args.runs ?? 3);
const memMiB = Number(args.mem ?? 256);
const guest = await defaultGuest({ build: true, onProgress: (l) => console.error(l) });
const kernel = args.kernel === "bzimage" ? guest.bzImage : guest.kernel;
const pvm = isPvmHost();
const cmdline = [DEFAULT_CMDLINE, ...(pvm ? PVM_CMDLINE : []), "--", "true"].join(" ");
const root = new URL("..", import.meta.url).pathname;

interface Vmm {
  name: string;
  argv: string[];
}

const denovmm: Vmm = {
  name: "denovmm",
  argv: [
    Deno.execPath(),
    "run",
    "-A",
    "--unstable-ffi",
    `${root}src/cli/main.ts`,
    "run",
    "--kernel",
    kernel,
    "--initrd",
    guest.initrd,
    "--mem",
    String(memMiB),
    "--cmdline",
    DEFAULT_CMDLINE,
    "--log-level",
    "warning",
    "--",
    "true",
  ],
};

const qemu: Vmm = {
  name: "qemu microvm",
  argv: [
    "qemu-system-x86_64",
    "-M",
    "microvm",
    "-enable-kvm",
    "-cpu",
    // kvm_pvm refuses QEMU's IA32_ARCH_CAPABILITIES write on AMD hosts (MSR 0x10a): drop the feature.
    pvm ? "host,-cx16,kvm-pv-ipi=off,kvm-pv-sched-yield=off,-arch-capabilities" : "host",
    "-m",
    String(memMiB),
    "-smp",
    "1",
    "-nographic", // serial console on stdio
    "-no-reboot",
    "-device",
    "i8042", // so reboot=k ends QEMU as it ends denovmm
    "-kernel",
    kernel,
    "-initrd",
    guest.initrd,
    "-append",
    cmdline,
  ],
};

/** Milliseconds from spawn to the first KVM_RUN, via strace in a run that is then killed. */
async function firstKvmRun(vmm: Vmm): Promise<number> {
  const out = await Deno.makeTempFile({ prefix: "denovmm-bench-strace-" });
  const t0 = performance.now();
  const child = new Deno.Command("strace", {
    args: ["-f", "-e", "trace=ioctl", "-e", "signal=none", "-o", out, ...vmm.argv],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let ms = NaN;
  let text = "";
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 10));
    text = await Deno.readTextFile(out).catch(() => "");
    if (/KVM_RUN|0xae80/.test(text)) {
      ms = performance.now() - t0;
      break;
    }
  }
  // Killing strace alone would leave the traced VMM running: kill every traced pid first.
  for (const pid of new Set([...text.matchAll(/^(\d+) /gm)].map((m) => Number(m[1])))) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
  await child.status;
  await Deno.remove(out);
  return ms;
}

/** Resident KiB of the process minus the resident KiB of its guest-RAM mapping. */
async function vmmOverheadKiB(pid: number, guestBytes: number): Promise<number | undefined> {
  const smaps = await Deno.readTextFile(`/proc/${pid}/smaps`).catch(() => undefined);
  if (smaps === undefined) return undefined;
  let total = 0;
  let guestRss = 0;
  let inGuest = false;
  for (const line of smaps.split("\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      const size = parseInt(range[2], 16) - parseInt(range[1], 16);
      // The guest RAM is the one anonymous mapping of exactly the guest's size (or larger by the
      // alignment QEMU adds).
      inGuest = size >= guestBytes && size <= guestBytes + (4 << 20);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      total += Number(rss[1]);
      if (inGuest) guestRss += Number(rss[1]);
    }
  }
  return total - guestRss;
}

/** One full boot: ms to the ready marker and the peak VMM overhead in KiB. */
async function boot(vmm: Vmm): Promise<{ readyMs: number; peakKiB: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(vmm.argv[0], {
    args: vmm.argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let peak = 0;
  const sampler = setInterval(async () => {
    const kib = await vmmOverheadKiB(child.pid, memMiB * 2 ** 20);
    if (kib !== undefined) peak = Math.max(peak, kib);
  }, 100);
  let readyMs = NaN;
  let seen = "";
  const dec = new TextDecoder();
  const timeout = setTimeout(() => child.kill("SIGKILL"), 600_000);
  for await (const chunk of child.stdout) {
    if (!Number.isNaN(readyMs)) continue;
    seen = (seen + dec.decode(chunk, { stream: true })).slice(-256);
    if (seen.includes("DENOVMM_READY")) readyMs = performance.now() - t0;
  }
  clearTimeout(timeout);
  clearInterval(sampler);
  await child.status;
  return { readyMs, peakKiB: peak };
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};

const results = new Map<string, { kvmRun: number[]; ready: number[]; peak: number[] }>();
for (const v of [denovmm, qemu]) results.set(v.name, { kvmRun: [], ready: [], peak: [] });
console.error(
  `[bench] ${runs} runs each, ${memMiB} MiB, kernel ${kernel}${pvm ? " (kvm_pvm host)" : ""}`,
);
for (let i = 0; i < runs; i++) {
  for (const v of [denovmm, qemu]) {
    const r = results.get(v.name)!;
    r.kvmRun.push(await firstKvmRun(v));
    const b = await boot(v);
    r.ready.push(b.readyMs);
    r.peak.push(b.peakKiB);
    console.error(
      `[bench] run ${i + 1} ${v.name}: first KVM_RUN ${r.kvmRun.at(-1)!.toFixed(0)} ms, ready ${
        b.readyMs.toFixed(0)
      } ms, peak VMM RSS ${(b.peakKiB / 1024).toFixed(1)} MiB`,
    );
  }
}

const d = results.get(denovmm.name)!;
const q = results.get(qemu.name)!;
const row = (label: string, dv: number, qv: number, unit: string, digits = 0) =>
  `| ${label} | ${dv.toFixed(digits)} ${unit} | ${qv.toFixed(digits)} ${unit} | ${
    (dv / qv).toFixed(2)
  }x |`;
console.log(
  `\nBoot benchmark, median of ${runs} (${memMiB} MiB guest, ${kernel.split("/").pop()})\n`,
);
console.log("| measure | denovmm | qemu microvm | denovmm/qemu |");
console.log("| --- | --- | --- | --- |");
console.log(row("process start → first KVM_RUN", median(d.kvmRun), median(q.kvmRun), "ms"));
console.log(row("process start → DENOVMM_READY", median(d.ready), median(q.ready), "ms"));
console.log(
  row("peak RSS minus guest RAM", median(d.peak) / 1024, median(q.peak) / 1024, "MiB", 1),
);
