import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * Sets three of V8's heap heuristics for a process that serves 10 MiB request bodies with a small heap, and returns
 * a function that runs a young-generation GC. Call it first thing in the process: V8 reads these flags each time it
 * resizes the heap, so they apply from then on.
 *
 * - Node's HTTP parser hands a body over in fresh 64 KiB Buffers outside V8's heap, 9 MiB of them per full-object
 *   request, and V8 counts them against the old generation's growth limit. With the default growing factor that
 *   limit is a few requests away, and full-object requests set off a mark-compact every second or third request. A
 *   growing factor of 4 (limit 4 x the live heap) leaves them room: full-object p99 59 -> 31 ms in the bench.
 * - The young generation keeps its initial size instead of growing to 32 MiB: the request paths allocate little on
 *   the heap, and a grown young generation stays resident (idle RSS with 5,000 cached nodes 76 -> 66 MiB).
 * - Those Buffers are freed only by a GC, and little heap allocation means few GCs: tens of MiB of them waited
 *   for one. The returned function lets the server run a young-generation GC (under a millisecond: the young
 *   generation is small and nearly empty) after each large body, which frees them at once (peak RSS under
 *   full objects 129 -> 109 MiB).
 * - Under concurrent large bodies, chunks outlive a young-generation GC or two and move to the old generation, which
 *   no request path fills up enough to collect: hundreds of MB stayed resident for minutes after a burst. So a full
 *   GC runs once `quietMs` passed without another large body (a few ms with this small heap, never on the busy path).
 *   The default is just over the 30 s after which the app's buffer pools let their buffers go, so it frees those too.
 */
export function tuneHeap(quietMs = 35_000): () => void {
  setFlagsFromString("--heap-growing-percent=300");
  setFlagsFromString("--semi-space-growth-factor=1");
  // V8 installs gc() in contexts created after the flag is set. A Node whose V8 did not would only lose the hint.
  setFlagsFromString("--expose-gc");
  type Gc = (options?: { type: "minor" }) => void;
  const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as Gc | undefined;
  let afterBurst: NodeJS.Timeout | undefined;
  return () => {
    gc?.({ type: "minor" });
    afterBurst ??= setTimeout(() => gc?.(), quietMs).unref();
    // Restarts the quiet period, also once the timer has fired.
    afterBurst.refresh();
  };
}
