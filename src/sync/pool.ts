/** What a batched pool does with an item it looks at after a batch's first one. */
export type BatchChoice = "take" | "skip" | "stop";

/**
 * How a batch hands its worker on to the next. The worker takes its next batch once the current
 * one has called `release()` (it will ask the API for nothing more: the fetchers call it as their
 * last page's commit starts) and the batch before it has ended, or once the current one ends. So
 * a batch's last commit overlaps the next batch's first fetch, and a worker runs at most two
 * batches. `previous` settles, never rejecting, when the worker's previous batch has ended; a
 * batch waits for it before its first commit, so a worker holds at most one transaction at a time.
 */
export interface Handoff {
  previous: Promise<void>;
  release(): void;
}

/**
 * Runs `task` over batches of `items` with `concurrency` workers. Each worker takes a batch: the
 * first item no worker has taken yet, then, in order, the later items `extend` takes for that
 * batch ("skip" leaves an item for another batch, "stop" ends the batch); at most `lookahead`
 * items past the first are looked at. A worker runs one batch at a time, or two when the first has
 * released it (Handoff). Stops taking batches once `signal` aborts or a task throws; the first
 * error is rethrown after the others settle.
 */
export async function runBatchedPool<T>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal | undefined,
  extend: (batch: readonly T[], candidate: T) => BatchChoice,
  task: (batch: T[], handoff: Handoff) => Promise<void>,
  lookahead = 256,
): Promise<void> {
  const taken = new Uint8Array(items.length);
  let next = 0;
  let failure: unknown = null;
  const takeBatch = (): T[] | null => {
    while (next < items.length && taken[next]) next++;
    if (next >= items.length) return null;
    taken[next] = 1;
    const batch = [items[next]!];
    for (let j = next + 1; j < items.length && j <= next + lookahead; j++) {
      if (taken[j]) continue;
      const choice = extend(batch, items[j]!);
      if (choice === "stop") break;
      if (choice === "take") {
        taken[j] = 1;
        batch.push(items[j]!);
      }
    }
    return batch;
  };
  const worker = async () => {
    let previous: Promise<void> = Promise.resolve();
    while (!signal?.aborted && failure === null) {
      const batch = takeBatch();
      if (batch === null) break;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const before = previous;
      const ended = task(batch, { previous: before, release }).catch((err: unknown) => {
        failure ??= err;
      });
      // A batch can end before the one it overlaps (one that never commits): wait for both.
      previous = Promise.all([before, ended]).then(() => undefined);
      // Released, and the batch before it has ended: never a third batch behind two running.
      await Promise.race([released.then(() => before), ended]);
    }
    await previous;
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failure !== null) throw failure;
}

/** Runs `task` over `items`, at most `concurrency` at once: runBatchedPool with batches of one. */
export function runPool<T>(items: readonly T[], concurrency: number, signal: AbortSignal | undefined, task: (item: T) => Promise<void>): Promise<void> {
  return runBatchedPool(items, concurrency, signal, () => "stop", ([item]) => task(item!));
}
