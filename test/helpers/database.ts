import pg from "pg";
import { randomBytes } from "node:crypto";

/**
 * Where tests find Postgres: TEST_DATABASE_URL if set, else a server on 127.0.0.1:5432
 * (user postgres, trust auth), else a testcontainers Postgres when Docker is available.
 * Each test file gets a database of its own, dropped at the end.
 */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

let adminUrlPromise: Promise<{ url: string; stop?: () => Promise<void> }> | null = null;

/** Null when Postgres answers at `url`, else why not. */
async function connectError(url: string): Promise<Error | null> {
  // Generous: on a loaded 2-core machine a test file's own start (the embedded engine compiling
  // its WebAssembly) can hold the event loop for seconds, and a 3 s timeout fired with the server up.
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
  try {
    await client.connect();
    await client.query("select 1");
    return null;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Tries up to three times unless the connection is refused outright (no server there). */
async function retriedConnectError(url: string): Promise<Error | null> {
  let error: Error | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    error = await connectError(url);
    if (error === null || (error as NodeJS.ErrnoException).code === "ECONNREFUSED") return error;
  }
  return error;
}

async function findAdminUrl(): Promise<{ url: string; stop?: () => Promise<void> }> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) {
    const error = await retriedConnectError(fromEnv);
    if (error) throw new Error(`TEST_DATABASE_URL is set but Postgres does not answer there (${error.message}). Start it or unset the variable.`);
    return { url: fromEnv };
  }
  const local = "postgres://postgres@127.0.0.1:5432/postgres";
  const error = await retriedConnectError(local);
  if (error === null) return { url: local };
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
    const container = await new PostgreSqlContainer("postgres:16-alpine").start();
    return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  } catch {
    throw new Error(
      `Tests need Postgres (127.0.0.1:5432 as user postgres: ${error.message}): set TEST_DATABASE_URL=postgres://user:pass@host:5432/postgres (a role that may create databases), ` +
        "or run a server on 127.0.0.1:5432 that user postgres can reach, or install Docker so testcontainers can start one.",
    );
  }
}

export async function createTestDatabase(label = "t"): Promise<TestDatabase> {
  adminUrlPromise ??= findAdminUrl();
  const admin = await adminUrlPromise;
  const name = `dga_${label.replace(/[^a-z0-9]/gi, "_").toLowerCase().slice(0, 30)}_${randomBytes(4).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin.url });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: admin.url });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
