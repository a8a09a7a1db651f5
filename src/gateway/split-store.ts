// The splits on disk: one small JSON file, replaced atomically (temp file + fsync + rename) so a crash
// mid-write leaves the previous split, never a torn one. Writes are queued: the last one wins.
import { mkdirSync, readFileSync } from 'node:fs';
import { replaceFile } from './atomic-file';
import { join } from 'node:path';
import { z } from 'zod';
import { AppliedSplitSchema, type AppliedSplit } from '../router/types';
import type { SharedState } from './shared-state';

const FileSchema = z.object({ format: z.literal(1), splits: z.record(z.string(), AppliedSplitSchema) });

export interface SplitStore {
  load(): Record<string, AppliedSplit>;
  save(splits: Record<string, AppliedSplit>): Promise<void>;
  /** Resolves when every queued write is on disk. */
  flush(): Promise<void>;
}

export class FileSplitStore implements SplitStore {
  private readonly path: string;
  private queue: Promise<void> = Promise.resolve();

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, 'splits.json');
  }

  load(): Record<string, AppliedSplit> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(
        `${this.path} is not valid JSON (${(err as Error).message}); move it away to start afresh`,
      );
    }
    const parsed = FileSchema.safeParse(json);
    if (!parsed.success) {
      throw new Error(`${this.path} is not a split file this gateway wrote: ${parsed.error.message}`);
    }
    return parsed.data.splits;
  }

  save(splits: Record<string, AppliedSplit>): Promise<void> {
    const body = JSON.stringify({ format: 1, splits }, null, 2) + '\n';
    const run = this.queue.then(() => this.write(body));
    // A failed write must not block later ones; the caller of this save still sees the error.
    this.queue = run.catch(() => undefined);
    return run;
  }

  flush(): Promise<void> {
    return this.queue;
  }

  private write(body: string): Promise<void> {
    return replaceFile(this.path, body);
  }
}

/** For gateways started without a data dir (tests, throwaway demos): nothing survives a restart. */
export class MemorySplitStore implements SplitStore {
  private data: Record<string, AppliedSplit> = {};
  load(): Record<string, AppliedSplit> {
    return { ...this.data };
  }
  async save(splits: Record<string, AppliedSplit>): Promise<void> {
    this.data = { ...splits };
  }
  async flush(): Promise<void> {}
}

/** A write refused because another replica stored a newer decision; carries the split in place. */
export class StaleSplit extends Error {
  override name = 'StaleSplit';
  constructor(readonly current: AppliedSplit) {
    super(`a newer decision is in place for ${current.agent}`);
  }
}

/**
 * Replicas: splits in PostgreSQL. A save writes only the agents whose split changed here, each
 * fenced by decidedAt in the database; `seq` is the newest change this replica has seen, written or
 * read, and `lastWrite` the sequence number of its own newest write (what confirmation waits for).
 */
export class SharedSplitStore implements SplitStore {
  seq: number;
  lastWrite = 0;
  private readonly written = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly shared: SharedState,
    private readonly initial: { splits: Map<string, AppliedSplit>; seq: number },
  ) {
    this.seq = initial.seq;
    for (const [agent, split] of initial.splits) this.written.set(agent, JSON.stringify(split));
  }

  load(): Record<string, AppliedSplit> {
    return Object.fromEntries(this.initial.splits);
  }

  /** A split read from the database: the next save must not write it back. */
  noteRemote(agent: string, split: AppliedSplit, seq: number): void {
    this.written.set(agent, JSON.stringify(split));
    this.seq = Math.max(this.seq, seq);
  }

  save(splits: Record<string, AppliedSplit>): Promise<void> {
    const run = this.queue.then(async () => {
      for (const [agent, split] of Object.entries(splits)) {
        const json = JSON.stringify(split);
        if (this.written.get(agent) === json) continue;
        const result = await this.shared.writeSplit(split);
        if ('stale' in result) {
          this.written.set(agent, JSON.stringify(result.stale));
          throw new StaleSplit(result.stale);
        }
        this.written.set(agent, json);
        this.lastWrite = result.seq;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  flush(): Promise<void> {
    return this.queue;
  }
}
