// A file replaced whole or not at all: temp file, fsync, rename. A crash mid-write leaves the
// previous content, never a torn one.
import { open, rename } from 'node:fs/promises';

export async function replaceFile(path: string, body: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}
