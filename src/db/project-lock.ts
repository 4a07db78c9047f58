/**
 * The per-project lock that decides which process archives a project: a session-level advisory
 * lock on a connection of its own, so it frees by itself if this process dies. The server also
 * frees it when that connection fails, and another process may then take the project. So a lost
 * connection is followed by taking the lock again on a new one (a network blip costs nothing);
 * only when that fails, or another process got the lock first, is the holder told.
 */
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { Logger } from "../logger.js";

/** Advisory-lock namespace for project locks (the first key of the two-int form). */
export const PROJECT_LOCK_CLASS = 0x0d9a;

/** Waits before each attempt to take a lost lock again: about 8 s in all. */
const RELOCK_DELAYS_MS = [250, 500, 1_000, 2_000, 4_000];

export interface ProjectLocks {
  /** The lock, or null when another process holds it; see ArchiveDatabase.tryLockProject. */
  tryLock(projectId: string, onLost?: (err: Error) => void): Promise<(() => Promise<void>) | null>;
  /** Ends every lock connection (the locks go with them). */
  closeAll(): Promise<void>;
}

export function createProjectLocks(options: { url: string; logger: Logger; clientConfig: Partial<pg.ClientConfig> }): ProjectLocks {
  const open = new Set<pg.Client>();
  const log = options.logger;
  let closing = false;

  /** A connection holding the project's lock, or null (the connection ended) when another process holds it. */
  async function lockSession(projectId: string): Promise<pg.Client | null> {
    const client = new pg.Client({ ...options.clientConfig, connectionString: options.url, application_name: "deepgram-archiver-lock" });
    client.on("error", (err) => log.warn({ err: err.message, projectId }, "project lock connection failed"));
    try {
      await client.connect();
      const res = await client.query<{ locked: boolean }>("select pg_try_advisory_lock($1, hashtext($2)) as locked", [PROJECT_LOCK_CLASS, projectId]);
      if (res.rows[0]?.locked) return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    await client.end().catch(() => undefined);
    return null;
  }

  return {
    async tryLock(projectId, onLost) {
      const first = await lockSession(projectId);
      if (!first) return null;
      let client = first;
      let released = false;

      const relock = async (cause: string) => {
        let last = cause;
        for (const delay of RELOCK_DELAYS_MS) {
          await sleep(delay);
          if (released || closing) return;
          try {
            const next = await lockSession(projectId);
            if (!next) {
              onLost?.(new Error(`its connection failed (${cause}) and another process holds it now`));
              return;
            }
            if (released || closing) {
              await next.end().catch(() => undefined);
              return;
            }
            client = next;
            watch(next);
            log.warn({ projectId, err: cause }, "project lock taken again after its connection failed");
            return;
          } catch (err) {
            last = (err as Error).message;
          }
        }
        onLost?.(new Error(`its connection failed (${cause}) and it could not be taken again: ${last}`));
      };

      const watch = (c: pg.Client) => {
        open.add(c);
        let gone = false;
        const lost = (cause: string) => {
          if (gone) return;
          gone = true;
          open.delete(c);
          if (!released && !closing) void relock(cause);
        };
        c.on("error", (err) => lost(err.message));
        c.on("end", () => lost("the connection closed"));
      };
      watch(first);

      return async () => {
        if (released) return;
        released = true;
        open.delete(client);
        // Ending the session releases the lock even if the unlock query fails.
        await client.query("select pg_advisory_unlock($1, hashtext($2))", [PROJECT_LOCK_CLASS, projectId]).catch(() => undefined);
        await client.end().catch(() => undefined);
      };
    },
    async closeAll() {
      closing = true;
      await Promise.all([...open].map((c) => c.end().catch(() => undefined)));
      open.clear();
    },
  };
}
