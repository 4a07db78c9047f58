/**
 * Runs `task` over `items` with at most `concurrency` at once, in order of `items`. Stops taking
 * new items once `signal` aborts; the first error a task throws is rethrown after the others settle.
 */
export async function runPool<T>(items: readonly T[], concurrency: number, signal: AbortSignal | undefined, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (next < items.length && !signal?.aborted && failure === null) {
      const item = items[next++]!;
      try {
        await task(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failure !== null) throw failure;
}
