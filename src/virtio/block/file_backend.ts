/**
 * A raw disk image file as a {@link BlockBackend}: pread/pwrite straight into guest memory on
 * Deno's blocking pool (several requests in flight at once), fdatasync for FLUSH, fallocate for
 * DISCARD and WRITE_ZEROES, and an flock so two VMs cannot open one image read-write.
 *
 * @module
 */

import { errno, ErrnoError } from "../../../ffi/errno.ts";
import { cString } from "../../../ffi/kvm.ts";
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_ZERO_RANGE,
  libc,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  SEEK_END,
} from "../../../ffi/libc.ts";
import type { BlockBackend } from "./backend.ts";

const EWOULDBLOCK = 11;
const ENOENT = 2;
const EACCES = 13;
const EROFS = 30;
const ZERO_CHUNK = new Uint8Array(1 << 20);

/** A disk image could not be opened; the message is meant for the user. */
export class DiskImageError extends Error {
  /** @example `throw new DiskImageError("Cannot open disk image ./a.img: no such file")` */
  constructor(message: string) {
    super(message);
    this.name = "DiskImageError";
  }
}

/**
 * A raw image file.
 *
 * @example
 * ```ts
 * const disk = FileBackend.open("./rootfs.ext4", { readOnly: false });
 * ```
 */
export class FileBackend implements BlockBackend {
  readonly #fd: number;
  readonly size: number;
  readonly readOnly: boolean;
  readonly id: string;
  #closed = false;

  private constructor(fd: number, size: number, readOnly: boolean, id: string) {
    this.#fd = fd;
    this.size = size;
    this.readOnly = readOnly;
    this.id = id;
  }

  /**
   * Opens and locks an image: a shared lock for read-only, an exclusive one for read-write.
   *
   * @example
   * ```ts
   * FileBackend.open("disk.img", { readOnly: true });
   * ```
   */
  static open(path: string, o: { readOnly: boolean; id?: string }): FileBackend {
    const fd = libc.symbols.open(cString(path), (o.readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
    if (fd < 0) {
      const e = errno();
      const why = e === ENOENT
        ? "no such file"
        : e === EACCES
        ? "permission denied"
        : e === EROFS
        ? "read-only file system (use ,ro)"
        : new ErrnoError("open", e).message;
      throw new DiskImageError(`Cannot open disk image ${path}: ${why}`);
    }
    if (libc.symbols.flock(fd, (o.readOnly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
      const e = errno();
      libc.symbols.close(fd);
      throw new DiskImageError(
        e === EWOULDBLOCK
          ? `Cannot open disk image ${path}: it is in use by another VM (locked)`
          : `Cannot lock disk image ${path}: ${new ErrnoError("flock", e).message}`,
      );
    }
    const size = Number(libc.symbols.lseek(fd, 0n, SEEK_END));
    if (size < 0) {
      libc.symbols.close(fd);
      throw new DiskImageError(`Cannot size disk image ${path}`);
    }
    const id = o.id ?? path.split("/").pop()!.slice(0, 20);
    return new FileBackend(fd, size, o.readOnly, id);
  }

  async read(offset: number, dst: Uint8Array): Promise<number> {
    let done = 0;
    while (done < dst.length) {
      const view = dst.subarray(done);
      const n = Number(
        await libc.symbols.pread_async(
          this.#fd,
          Deno.UnsafePointer.of(view),
          BigInt(view.length),
          BigInt(offset + done),
        ),
      );
      if (n < 0) throw new Error(`read of ${view.length} bytes at ${offset + done} failed`);
      if (n === 0) {
        view.fill(0); // past the end of the file: zeroes, as for a sparse tail
        return dst.length;
      }
      done += n;
    }
    return done;
  }

  async write(offset: number, src: Uint8Array): Promise<number> {
    let done = 0;
    while (done < src.length) {
      const view = src.subarray(done);
      const n = Number(
        await libc.symbols.pwrite_async(
          this.#fd,
          Deno.UnsafePointer.of(view),
          BigInt(view.length),
          BigInt(offset + done),
        ),
      );
      if (n <= 0) throw new Error(`write of ${view.length} bytes at ${offset + done} failed`);
      done += n;
    }
    return done;
  }

  async flush(): Promise<void> {
    if ((await libc.symbols.fdatasync_async(this.#fd)) < 0) throw new Error("fdatasync failed");
  }

  async discard(offset: number, length: number): Promise<void> {
    const mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    if ((await libc.symbols.fallocate_async(this.#fd, mode, BigInt(offset), BigInt(length))) < 0) {
      throw new Error("fallocate(PUNCH_HOLE) failed");
    }
  }

  async writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    const mode = unmap
      ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
      : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if ((await libc.symbols.fallocate_async(this.#fd, mode, BigInt(offset), BigInt(length))) >= 0) {
      return;
    }
    // A file system without fallocate modes: write the zeroes.
    for (let at = 0; at < length; at += ZERO_CHUNK.length) {
      await this.write(
        offset + at,
        ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, length - at)),
      );
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.symbols.close(this.#fd); // also drops the flock
  }
}
