import { sql, type Transaction } from "kysely";
import type { ArchiveDatabase } from "./connection.js";
import type { Database } from "./schema.js";

/**
 * Makes a long transaction stop when `signal` aborts: from then on the statement it runs, and any
 * it starts later, is cancelled (pg_cancel_backend from another pooled connection, every 200 ms),
 * so the transaction fails and rolls back instead of holding a shutdown past its deadline. Call
 * the returned function when the transaction's work is done, before it commits. A cancel already
 * on its way can still meet the commit, which then fails as well: the same outcome. Meant for a
 * process that is stopping, where nothing else reuses the connection. Postgres only: the embedded
 * engine runs in this process and has no other connection to cancel from.
 */
export async function cancelOnAbort(database: ArchiveDatabase, trx: Transaction<Database>, signal: AbortSignal | undefined): Promise<() => void> {
  if (!signal || database.engine !== "postgres") return () => undefined;
  const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]!.pid;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const cancel = () => {
    if (!done) void sql`select pg_cancel_backend(${pid})`.execute(database.db).catch(() => undefined);
  };
  const onAbort = () => {
    cancel();
    timer = setInterval(cancel, 200);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return () => {
    done = true;
    signal.removeEventListener("abort", onAbort);
    clearInterval(timer);
  };
}
