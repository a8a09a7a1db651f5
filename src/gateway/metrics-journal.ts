// The gateway's finished seconds, kept so a restart does not lose the judge's data: the window of
// a stage spans restarts of the process that counts its requests.
//
// One gateway (dev, demo, a single replica): an append-only JSON-lines file in its data dir,
// compacted to the retention window when it opens and when it has grown. Replicas behind a load
// balancer keep the same records in PostgreSQL instead (shared-state.ts).
import { mkdirSync, readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { replaceFile } from './atomic-file';
import { join } from 'node:path';
import { z } from 'zod';
import { SecondRecordSchema, type SecondRecord } from './metrics-store';

export interface MetricsJournal {
  /** Epoch ms since which this journal holds every finished second (the judge's `dataSince`). */
  readonly since: number;
  /** Writes finished seconds; resolves when they are stored. */
  append(records: SecondRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** Bumped when the record shape or the latency bucket scheme changes: an old file is set aside. */
const FORMAT = 1;
const HeaderSchema = z.object({ format: z.literal(FORMAT), since: z.number().int().nonnegative() });
/** Lines appended before the file is rewritten to the retention window. */
const COMPACT_AFTER_LINES = 200_000;

export class FileMetricsJournal implements MetricsJournal {
  readonly since: number;
  private readonly path: string;
  private queue: Promise<void> = Promise.resolve();
  private linesSinceCompaction = 0;

  /**
   * Opens (or starts) the journal in `dataDir` and returns the records still inside the retention
   * window, oldest first, for the caller to put back into its series. A torn last line (a crash
   * mid-append) is skipped; anything else unreadable is reported through `log` and skipped.
   */
  static async open(
    dataDir: string,
    retentionMs: number,
    now: number,
    log: (line: string) => void,
  ): Promise<{ journal: FileMetricsJournal; restored: SecondRecord[] }> {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, 'metrics.jsonl');
    const { since, records, skipped } = readJournal(path, now);
    const oldest = Math.floor((now - retentionMs) / 1000);
    const restored = records.filter((r) => r.second >= oldest);
    if (skipped > 0) log(`metrics journal ${path}: skipped ${skipped} unreadable line(s)`);
    const journal = new FileMetricsJournal(path, since);
    await journal.rewrite(restored);
    return { journal, restored };
  }

  private constructor(path: string, since: number) {
    this.path = path;
    this.since = since;
  }

  append(records: SecondRecord[]): Promise<void> {
    if (records.length === 0) return this.queue;
    const body = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    this.linesSinceCompaction += records.length;
    const run = this.queue.then(() => appendFile(this.path, body));
    // A failed append must not block later ones; the caller of this append still sees the error.
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Rewrites the file to the records given (the restored window); called once at open. */
  private async rewrite(records: SecondRecord[]): Promise<void> {
    const header = JSON.stringify({ format: FORMAT, since: this.since });
    const body = [header, ...records.map((r) => JSON.stringify(r))].join('\n') + '\n';
    await replaceFile(this.path, body);
    this.linesSinceCompaction = 0;
  }

  /** Whether the file has grown enough that the next open should be preceded by a compaction. */
  get needsCompaction(): boolean {
    return this.linesSinceCompaction > COMPACT_AFTER_LINES;
  }

  /** Compacts in place: reads the file back and keeps the retention window. */
  async compact(retentionMs: number, now: number): Promise<void> {
    await this.queue;
    const oldest = Math.floor((now - retentionMs) / 1000);
    const { records } = readJournal(this.path, now);
    await this.rewrite(records.filter((r) => r.second >= oldest));
  }

  close(): Promise<void> {
    return this.queue;
  }
}

function readJournal(path: string, now: number): { since: number; records: SecondRecord[]; skipped: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { since: now, records: [], skipped: 0 };
    throw err;
  }
  const lines = text.split('\n');
  const header = HeaderSchema.safeParse(safeJson(lines[0]));
  // Another format (or not ours): start afresh rather than misread latency buckets.
  if (!header.success) return { since: now, records: [], skipped: 0 };
  const records: SecondRecord[] = [];
  let skipped = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const parsed = SecondRecordSchema.safeParse(safeJson(line));
    if (parsed.success) records.push(parsed.data);
    else if (i !== lines.length - 1) skipped++; // the last line may be torn by a crash: expected
  }
  return { since: header.data.since, records, skipped };
}

function safeJson(line: string | undefined): unknown {
  if (line === undefined) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
