import { afterEach, describe, expect, it } from "vitest";
import type { Kysely } from "kysely";
import type { Database } from "../../src/db/schema.js";
import type { DeepgramClient } from "../../src/deepgram/index.js";
import { runSync } from "../../src/sync/engine.js";
import { createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";

let f: ArchiveFixture | undefined;

afterEach(async () => {
  await f?.close();
  f = undefined;
});

/**
 * The real client and database, watched while the pass archives (from its first listing to its
 * first usage request): how many listings are in flight, how many transactions are open, and, as
 * each listing starts, how many transactions are open then.
 */
function watch(client: DeepgramClient, db: Kysely<Database>) {
  const seen = { listings: 0, mostListings: 0, transactions: 0, mostTransactions: 0, openAtListing: [] as number[] };
  let archiving = false;
  const watchedClient: DeepgramClient = {
    ...client,
    getUsage(...args) {
      archiving = false;
      return client.getUsage(...args);
    },
    async listRequests(...args) {
      archiving = true;
      seen.openAtListing.push(seen.transactions);
      seen.mostListings = Math.max(seen.mostListings, ++seen.listings);
      try {
        return await client.listRequests(...args);
      } finally {
        seen.listings--;
      }
    },
  };
  const watchedDb = new Proxy(db, {
    get(target, key) {
      if (key === "transaction") {
        return () => {
          const builder = target.transaction();
          return {
            async execute<T>(fn: Parameters<typeof builder.execute<T>>[0]): Promise<T> {
              seen.transactions++;
              if (archiving) seen.mostTransactions = Math.max(seen.mostTransactions, seen.transactions);
              try {
                return await builder.execute(fn);
              } finally {
                seen.transactions--;
              }
            },
          };
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { seen, client: watchedClient, db: watchedDb };
}

/** A first pass over 20 days of `projects` projects at `concurrency`, watched; its archive must be exact. */
async function watchedPass(label: string, projects: number, concurrency: number) {
  f = await createArchiveFixture(label, { sim: { perDay: 400, projects, days: 20, latencyMs: 2 }, settings: { windowMs: 3_600_000, concurrency } });
  const w = watch(f.client, f.database.db);
  const report = await runSync({ database: { ...f.database, db: w.db }, client: w.client, clock: f.clock, logger: f.logger, settings: f.settings });
  expect(report.outcome).toBe("succeeded");
  const diffs = await f.diff();
  expect(problems(diffs)).toEqual(exact(diffs));
  return { report, seen: w.seen };
}

describe("page commits overlap the next listing", () => {
  it("at concurrency 1: each listing after the first goes out while the page before commits, never two of either", async () => {
    const { report, seen } = await watchedPass("overlap_c1", 1, 1);
    const pages = report.projects[0]!.pages;
    expect(pages).toBeGreaterThan(50);
    expect(seen.openAtListing).toHaveLength(pages);
    expect(seen.mostListings).toBe(1);
    expect(seen.mostTransactions).toBe(1);
    // The first listing has nothing before it to commit; every later one overlaps a commit.
    expect(seen.openAtListing).toEqual([0, ...Array<number>(pages - 1).fill(1)]);
  });

  it("at concurrency 4: at most four listings and four page transactions at once, and the archive exact", async () => {
    const { seen } = await watchedPass("overlap_c4", 2, 4);
    expect(seen.mostListings).toBe(4);
    expect(seen.mostTransactions).toBe(4);
    expect(seen.openAtListing.filter((n) => n > 0).length).toBeGreaterThan(seen.openAtListing.length / 2);
  });
});
