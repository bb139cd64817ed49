/** Hands out buffers for request bodies and answers, reusing one for the large ones. */
export interface BufferPool {
  acquire(sizeBytes: number): Buffer;
  /** A buffer of `sizeBytes` only if one is free without allocating, else undefined. */
  acquireExisting(sizeBytes: number): Buffer | undefined;
  /** Gives a buffer back; nothing may read it afterwards. */
  release(buffer: Buffer): void;
}

/** How long a pool keeps its buffer unused before letting it go, by default. */
const defaultIdleReleaseMs = 30_000;

/**
 * A pool with a single reusable buffer for sizes of `minPooledBytes` or more. Buffers live outside V8's heap, which
 * collects them lazily: without reuse, back-to-back 10 MiB bodies and answers pile up as garbage and inflate the
 * resident size, and every fresh buffer is fresh pages the kernel has to fault in. kube-scheduler sends one request at
 * a time, so one buffer serves nearly every large body, another every large answer. A buffer left unused for
 * `idleReleaseMs` is let go, so an extender idle between bursts of scheduling gives its megabytes back.
 */
export function createBufferPool(minPooledBytes = 1024 * 1024, idleReleaseMs = defaultIdleReleaseMs): BufferPool {
  let slot: Buffer | undefined;
  let inUse = false;
  // A buffer over four times the size asked for is not reused but replaced: after a burst of big bodies, ordinary
  // ones would otherwise keep the burst's buffer alive (and its megabytes resident) for as long as they come.
  const fits = (buffer: Buffer, sizeBytes: number): boolean => buffer.length >= sizeBytes && buffer.length <= sizeBytes * 4;
  const idle = setTimeout(() => {
    if (!inUse) {
      slot = undefined;
    }
  }, idleReleaseMs);
  idle.unref();
  return {
    acquire(sizeBytes) {
      if (sizeBytes < minPooledBytes || inUse) {
        return Buffer.allocUnsafe(sizeBytes);
      }
      if (slot === undefined || !fits(slot, sizeBytes)) {
        slot = Buffer.allocUnsafeSlow(sizeBytes);
      }
      inUse = true;
      return slot.subarray(0, sizeBytes);
    },
    acquireExisting(sizeBytes) {
      if (sizeBytes < minPooledBytes || inUse || slot === undefined || !fits(slot, sizeBytes)) {
        return undefined;
      }
      inUse = true;
      return slot.subarray(0, sizeBytes);
    },
    release(buffer) {
      if (buffer.buffer === slot?.buffer) {
        inUse = false;
        idle.refresh();
      }
    },
  };
}
