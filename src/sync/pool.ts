/** What a batched pool does with an item it looks at after a batch's first one. */
export type BatchChoice = "take" | "skip" | "stop";

/**
 * Runs `task` over batches of `items` with at most `concurrency` at once. Each worker takes a
 * batch: the first item no worker has taken yet, then, in order, the later items `extend` takes
 * for that batch ("skip" leaves an item for another batch, "stop" ends the batch); at most
 * `lookahead` items past the first are looked at. Stops taking batches once `signal` aborts or a
 * task throws; the first error is rethrown after the others settle.
 */
export async function runBatchedPool<T>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal | undefined,
  extend: (batch: readonly T[], candidate: T) => BatchChoice,
  task: (batch: T[]) => Promise<void>,
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
    while (!signal?.aborted && failure === null) {
      const batch = takeBatch();
      if (batch === null) return;
      try {
        await task(batch);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failure !== null) throw failure;
}

/** Runs `task` over `items`, at most `concurrency` at once: runBatchedPool with batches of one. */
export function runPool<T>(items: readonly T[], concurrency: number, signal: AbortSignal | undefined, task: (item: T) => Promise<void>): Promise<void> {
  return runBatchedPool(items, concurrency, signal, () => "stop", ([item]) => task(item!));
}
