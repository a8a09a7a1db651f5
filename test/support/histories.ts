// Saved histories of representative rollouts, replayed in CI (test/replay.test.ts) so that a change
// to workflow code that would break running rollouts fails the build. Regenerate on purpose only:
// UPDATE_HISTORIES=1 npm test
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = path.join(__dirname, '..', 'histories');

export async function saveHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.UPDATE_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  await fs.mkdir(HISTORIES_DIR, { recursive: true });
  await fs.writeFile(path.join(HISTORIES_DIR, `${name}.json`), historyToJSON(history));
}
