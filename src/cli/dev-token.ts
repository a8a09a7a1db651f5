// The tokens `dev` prints (dashboard, gateway admin) are kept in its data dir, so that a restart of
// `dev` does not strand the browser and scripts holding the old ones. Owner-only file mode: the
// data dir holds the rollouts too, and nothing there is meant for other users of the machine.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors';

const TOKEN = /^[A-Za-z0-9_-]{16,200}$/;

/**
 * The data dir as `dev` needs it: created when missing, refused with a fix when it is a file or
 * cannot be written (instead of an "unexpected error" from deep inside the dev server).
 */
export function ensureDataDir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw dataDirError(dir, err);
  }
  if (!isDir) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw dataDirError(dir, err);
    }
  }
}

function dataDirError(dir: string, err: unknown): UsageError {
  const code = (err as NodeJS.ErrnoException).code;
  const what =
    code === 'EEXIST' || code === 'ENOTDIR'
      ? 'is a file, not a directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'is not writable by you'
        : `cannot be used (${code ?? (err as Error).message})`;
  return new UsageError(
    `--data-dir ${dir} ${what}\n  Fix: pass --data-dir <a directory of your own>, or move what is at ${dir} away.`,
  );
}

/** The token kept at <dir>/<name>, made (and kept) on first use. */
export function keptToken(dir: string, name: string): string {
  const file = path.join(dir, name);
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (TOKEN.test(text)) return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw dataDirError(file, err);
  }
  // Missing or not one of ours (edited by hand, truncated): a new one replaces it.
  const token = randomBytes(18).toString('base64url');
  try {
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  } catch (err) {
    throw dataDirError(file, err);
  }
  return token;
}
