import { createTask, type Logger as CronLogger, type ScheduledTask } from "node-cron";
import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";

/** What started a pass: the service's start, a cron tick, or a caller (tests, a future admin endpoint). */
export type Trigger = "startup" | "schedule" | "manual";

export type TickResult<T> = { ran: true; result: T } | { ran: false; reason: string };

export interface SchedulerOptions<T> {
  /** 5- or 6-field cron expression (validated by the config). */
  expression: string;
  /** IANA zone the expression is read in; the archive's ARCHIVER_TIMEZONE. */
  timezone: string;
  logger: Logger;
  clock: Clock;
  /** One pass. Never called while a previous call is still running. */
  run: (trigger: Trigger) => Promise<T>;
  /** Called when a tick finds a pass running (metrics). */
  onSkipped?: (trigger: Trigger) => void;
}

export interface Scheduler<T> {
  /** Starts the cron timer; idempotent. Does not run a pass by itself. */
  start(): void;
  /** Stops the cron timer for good; idempotent. A pass in progress is left to the caller to abort. */
  stop(): void;
  /** Runs a pass now unless one is running; then the tick is skipped and logged, not queued. */
  tick(trigger: Trigger): Promise<TickResult<T>>;
  /** The pass in progress, if any. */
  running(): Promise<unknown> | null;
  /** The longest gap between two consecutive runs of the expression. */
  readonly intervalMs: number;
  nextRun(): Date | null;
}

/**
 * node-cron decides when; this decides whether. node-cron's `noOverlap` covers ticks that would
 * overlap a scheduled run; the guard here also covers the pass at start and manual ones, so no
 * two passes ever run at once in one process.
 */
export function createScheduler<T>(options: SchedulerOptions<T>): Scheduler<T> {
  const log = options.logger.child({ component: "scheduler" });
  let current: { promise: Promise<TickResult<T>>; trigger: Trigger; since: number } | null = null;
  let task: ScheduledTask | null = null;
  let stopped = false;

  const skip = (trigger: Trigger): TickResult<T> => {
    const runningFor = current ? Math.round((options.clock.now().getTime() - current.since) / 1000) : 0;
    const reason = `a pass (${current?.trigger ?? "unknown"}) has been running for ${runningFor}s`;
    log.info({ trigger, runningForSeconds: runningFor }, `${trigger} tick skipped: ${reason}`);
    options.onSkipped?.(trigger);
    return { ran: false, reason };
  };

  const tick = (trigger: Trigger): Promise<TickResult<T>> => {
    if (current) return Promise.resolve(skip(trigger));
    const promise = (async (): Promise<TickResult<T>> => {
      try {
        return { ran: true, result: await options.run(trigger) };
      } finally {
        current = null;
      }
    })();
    current = { promise, trigger, since: options.clock.now().getTime() };
    return promise;
  };

  return {
    intervalMs: scheduleIntervalMs(options.expression, options.timezone),
    start() {
      if (task || stopped) return;
      task = createTask(
        options.expression,
        async () => {
          // The cron callback must not throw into node-cron: the pass reports its own failures.
          await tick("schedule").catch((err: unknown) => log.error({ err: (err as Error).message }, "scheduled pass threw"));
        },
        { name: "deepgram-archiver-pass", timezone: options.timezone, noOverlap: true, logger: cronLogger(log) },
      );
      task.on("execution:overlap", () => void skip("schedule"));
      task.on("execution:missed", (ctx) => log.warn({ slot: ctx.date.toISOString() }, "a scheduled tick was missed (the process was busy or suspended); the next one runs as planned"));
      void task.start();
    },
    stop() {
      stopped = true;
      if (!task) return;
      const t = task;
      task = null;
      void t.stop();
      void t.destroy();
    },
    tick,
    running: () => current?.promise ?? null,
    nextRun: () => task?.getNextRun() ?? null,
  };
}

/**
 * The longest gap between consecutive runs over the next 64 runs: for `*\/15 * * * *` 15 minutes,
 * for a weekday-only schedule the weekend. Readiness allows two of these.
 */
export function scheduleIntervalMs(expression: string, timezone: string): number {
  const probe = createTask(expression, () => undefined, { timezone, name: `deepgram-archiver-probe-${Math.random().toString(36).slice(2)}` });
  try {
    const runs = probe.getNextRuns(64).map((d) => d.getTime());
    let max = 0;
    for (let i = 1; i < runs.length; i++) max = Math.max(max, runs[i]! - runs[i - 1]!);
    return max;
  } finally {
    void probe.destroy();
  }
}

/** node-cron's own messages (overlap, missed) are reported by the handlers above; keep the rest at debug. */
function cronLogger(log: Logger): CronLogger {
  return {
    info: (m) => log.debug(m),
    warn: (m) => log.debug(m),
    error: (m, err) => log.error({ err: (err ?? m) instanceof Error ? ((err ?? m) as Error).message : String(m) }, "scheduler error"),
    debug: (m) => log.debug(typeof m === "string" ? m : m.message),
  };
}
