/**
 * What the virtio-blk device needs from its storage. The file backend is the one denovmm ships;
 * tests may plug in others.
 *
 * @module
 */

/**
 * Block storage addressed in bytes. Data moves straight between the storage and the guest-memory
 * view it is given (no copies in between).
 *
 * @example
 * ```ts
 * const n = await backend.read(4096, mem.slice(bufAddr, 4096));
 * ```
 */
export interface BlockBackend {
  /** Size in bytes. */
  readonly size: number;
  /** Writes, discards and write-zeroes are refused. */
  readonly readOnly: boolean;
  /** Serial string reported by GET_ID (at most 20 bytes are used). */
  readonly id: string;
  /** Reads `dst.length` bytes at `offset` into `dst`; resolves with the count read. */
  read(offset: number, dst: Uint8Array): Promise<number>;
  /** Writes `src` at `offset`; resolves with the count written. */
  write(offset: number, src: Uint8Array): Promise<number>;
  /** Makes completed writes durable. */
  flush(): Promise<void>;
  /** Deallocates a range (reads of it then return zeroes). */
  discard(offset: number, length: number): Promise<void>;
  /** Zeroes a range, deallocating it when `unmap` allows. */
  writeZeroes(offset: number, length: number, unmap: boolean): Promise<void>;
  /** Releases the storage (and its lock). */
  close(): void;
}
