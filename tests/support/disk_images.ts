/**
 * Disk images for end-to-end tests, made with the host's e2fsprogs.
 *
 * @module
 */

/**
 * A read-only ext2 image holding the host's `mke2fs` with its shared libraries and loader, so a
 * busybox guest can make a real ext4 file system (busybox's own mke2fs only makes ext2).
 *
 * @example
 * ```ts
 * const tools = await makeToolsImage(dir, { "test.sh": script }); // guest: /mnt/tools/run mke2fs ...
 * ```
 */
export async function makeToolsImage(
  dir: string,
  files: Record<string, string> = {},
): Promise<string> {
  const root = `${dir}/tools-root`;
  await Deno.mkdir(root, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${root}/${name}`, text);
  }
  const mke2fs = "/sbin/mke2fs";
  const ldd = await new Deno.Command("ldd", { args: [mke2fs], stdout: "piped" }).output();
  const libs = [...new TextDecoder().decode(ldd.stdout).matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) =>
    m[1]
  );
  for (const f of [mke2fs, ...new Set(libs)]) {
    await Deno.copyFile(f, `${root}/${f.split("/").pop()}`);
  }
  // The guest runs the binary through the host's loader with the libraries next to it.
  await Deno.writeTextFile(
    `${root}/run`,
    '#!/bin/sh\nd=$(dirname "$0")\ntool=$1\nshift\nexec "$d/ld-linux-x86-64.so.2" --library-path "$d" "$d/$tool" "$@"\n',
  );
  await Deno.chmod(`${root}/run`, 0o755);
  const img = `${dir}/tools.img`;
  await run("mke2fs", ["-q", "-t", "ext2", "-d", root, img, "16M"]);
  return img;
}

/**
 * An empty (zero-filled, sparse) image of `mib` MiB.
 *
 * @example
 * ```ts
 * const data = await makeBlankImage(dir, "data.img", 64);
 * ```
 */
export async function makeBlankImage(dir: string, name: string, mib: number): Promise<string> {
  const path = `${dir}/${name}`;
  const f = await Deno.create(path);
  await f.truncate(mib << 20);
  f.close();
  return path;
}

/**
 * Runs a host command, throwing with its stderr when it fails; returns stdout.
 *
 * @example
 * ```ts
 * const text = await run("debugfs", ["-R", "cat /f", "data.img"]);
 * ```
 */
export async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}
