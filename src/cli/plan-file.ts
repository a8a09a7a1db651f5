// Plan files as the verbs that take one read them (validate, start, export).
import { readFileSync } from 'node:fs';
import { parsePlan, PlanError, type ResolvedPlan } from '../plan';
import { UsageError } from './errors';

/** Reads and resolves a plan file ("-" reads stdin). Throws PlanError naming each bad field. */
export function readPlan(file: string): ResolvedPlan {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read plan file "${file}": ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`,
    );
  }
  try {
    return parsePlan(text, file === '-' ? 'stdin' : file);
  } catch (err) {
    if (err instanceof PlanError) {
      // Name the file too: the problems name the fields.
      err.message = `${file}: ${err.message}`;
    }
    throw err;
  }
}
