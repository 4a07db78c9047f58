import { sql, type Kysely } from "kysely";

/** A stable text description of schema deepgram_archive, for the committed snapshot. */
export async function describeSchema(db: Kysely<any>): Promise<string> {
  const columns = await sql<{ t: string; c: string; type: string; nullable: string; def: string | null }>`
    select c.table_name as t, c.column_name as c, c.data_type || coalesce('(' || c.udt_name || ')', '') as type,
           c.is_nullable as nullable, c.column_default as def
    from information_schema.columns c
    where c.table_schema = 'deepgram_archive'
    order by c.table_name, c.ordinal_position`.execute(db);
  const constraints = await sql<{ t: string; name: string; def: string }>`
    select cl.relname as t, co.conname as name, pg_get_constraintdef(co.oid) as def
    from pg_constraint co join pg_class cl on cl.oid = co.conrelid join pg_namespace n on n.oid = cl.relnamespace
    where n.nspname = 'deepgram_archive' and cl.relname not like 'requests\_2%'
    order by cl.relname, co.conname`.execute(db);
  const indexes = await sql<{ t: string; def: string }>`
    select tablename as t, indexdef as def from pg_indexes
    where schemaname = 'deepgram_archive' and tablename not like 'requests\_2%'
    order by tablename, indexname`.execute(db);
  const other = await sql<{ kind: string; name: string; def: string }>`
    select 'view' as kind, viewname as name, pg_get_viewdef(format('%I.%I', schemaname, viewname)::regclass, true) as def
    from pg_views where schemaname = 'deepgram_archive'
    union all
    select 'function', p.proname, pg_get_function_identity_arguments(p.oid)
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'deepgram_archive'
    union all
    select 'trigger', t.tgname || ' on ' || c.relname, pg_get_triggerdef(t.oid)
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'deepgram_archive' and not t.tgisinternal and c.relname not like 'requests\_2%'
    order by 1, 2`.execute(db);
  const out: string[] = [];
  let table = "";
  for (const c of columns.rows) {
    if (c.t.startsWith("requests_2")) continue;
    if (c.t !== table) out.push(`\ntable ${(table = c.t)}`);
    out.push(`  ${c.c} ${c.type}${c.nullable === "NO" ? " not null" : ""}${c.def ? ` default ${c.def}` : ""}`);
  }
  out.push("\nconstraints");
  for (const c of constraints.rows) out.push(`  ${c.t}.${c.name}: ${c.def}`);
  out.push("\nindexes");
  for (const i of indexes.rows) out.push(`  ${i.def}`);
  out.push("\nviews, functions, triggers");
  for (const o of other.rows) out.push(`  ${o.kind} ${o.name}: ${o.def.replace(/\s+/g, " ").trim()}`);
  return out.join("\n").trim() + "\n";
}
