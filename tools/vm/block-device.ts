// Raw block-device I/O for tests that run inside the VM, where LVs are real devices.
import { open } from "node:fs/promises";

/** Writes `bytes` of a repeating byte at the start of a block device and syncs it. */
export async function writePattern(device: string, bytes: number, byte: number): Promise<void> {
  const handle = await open(device, "r+");
  try {
    await handle.write(Buffer.alloc(bytes, byte), 0, bytes, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads the first `bytes` of a block device. */
export async function readStart(device: string, bytes: number): Promise<Buffer> {
  const handle = await open(device, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    await handle.read(buffer, 0, bytes, 0);
    return buffer;
  } finally {
    await handle.close();
  }
}
