/**
 * virtio-console control messages (virtio 1.2 §5.3.6.2): `struct virtio_console_control`
 * { le32 id; le16 event; le16 value; } optionally followed by data (a port name).
 *
 * @module
 */

/** Control events. */
export const VIRTIO_CONSOLE = {
  DEVICE_READY: 0,
  DEVICE_ADD: 1,
  DEVICE_REMOVE: 2,
  PORT_READY: 3,
  CONSOLE_PORT: 4,
  RESIZE: 5,
  PORT_OPEN: 6,
  PORT_NAME: 7,
} as const;

/** Size of the fixed part of a control message. */
export const CONTROL_SIZE = 8;

/** A control message. */
export interface ControlMessage {
  id: number;
  event: number;
  value: number;
}

/**
 * Encodes a control message (with optional trailing bytes, e.g. the port name).
 *
 * @example
 * ```ts
 * encodeControl({ id: 1, event: VIRTIO_CONSOLE.PORT_NAME, value: 1 }, new TextEncoder().encode("agent"));
 * ```
 */
export function encodeControl(m: ControlMessage, extra?: Uint8Array): Uint8Array {
  const b = new Uint8Array(CONTROL_SIZE + (extra?.length ?? 0));
  const v = new DataView(b.buffer);
  v.setUint32(0, m.id, true);
  v.setUint16(4, m.event, true);
  v.setUint16(6, m.value, true);
  if (extra) b.set(extra, CONTROL_SIZE);
  return b;
}

/**
 * Decodes the fixed part; undefined when fewer than 8 bytes.
 *
 * @example
 * ```ts
 * decodeControl(bytes)?.event;
 * ```
 */
export function decodeControl(b: Uint8Array): ControlMessage | undefined {
  if (b.length < CONTROL_SIZE) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { id: v.getUint32(0, true), event: v.getUint16(4, true), value: v.getUint16(6, true) };
}
