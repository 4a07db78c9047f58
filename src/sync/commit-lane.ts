/**
 * The commits of one batch's pages, in page order, each overlapping the fetch of the page after
 * it: a page's commit starts once the commit before it has ended (for the batch's first page,
 * once the worker's previous batch has: Handoff.previous in pool.ts), and the fetcher goes on to
 * the next request meanwhile. So a worker has at most one commit and one request in flight, and a
 * page that is committed was committed after every page before it.
 *
 * A failed commit is thrown by the next `start`, so the fetcher stops at the page after it. A read
 * run through `finish` returns or throws only once its commits have ended, so nothing runs on
 * behind what the fetcher does next (read again, split, report an error).
 */
export class CommitLane {
  private pending: Promise<void>;
  private failure: { error: unknown } | null = null;

  constructor(after: Promise<unknown> = Promise.resolve()) {
    this.pending = after.then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Waits for the commit before (throwing its failure), then starts `commit` without waiting for
   * it. `starting` is called just before: for the batch's last page, the worker's release
   * (Handoff), so a worker never has a second batch waiting behind one that waits itself.
   */
  async start(commit: () => Promise<void>, starting?: () => void): Promise<void> {
    await this.drain();
    starting?.();
    this.pending = commit().catch((error: unknown) => {
      this.failure ??= { error };
    });
  }

  /**
   * The outcome of `read` (one read of a listing through this lane), once the commit in flight has
   * ended. A commit that failed is thrown in its place, even over the read's own error: the
   * database is the cause that matters more than the listing.
   */
  async finish<T>(read: Promise<T>): Promise<T> {
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await read };
    } catch (error) {
      outcome = { error };
    }
    await this.drain();
    if ("error" in outcome) throw outcome.error;
    return outcome.value;
  }

  /** Waits for the commit in flight; throws the first commit that failed. */
  async drain(): Promise<void> {
    await this.pending;
    if (this.failure) throw this.failure.error;
  }
}
