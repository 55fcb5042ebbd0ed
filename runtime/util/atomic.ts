import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Temporary file then rename, so an interrupted write never leaves half a file. Creates the folder. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  atomically(path, (tmp) => writeFileSync(tmp, data));
}

const WRITE_CHUNK = 64 << 20;

/**
 * writeAtomic for data too large to hold at once: the chunks are written in order as the iterable
 * yields them (a generator may produce each one just in time). An error from the iterable, as from
 * the file system, removes the temporary file and leaves any previous file at `path` as it was.
 */
export function writeAtomicChunks(path: string, chunks: Iterable<Uint8Array>): void {
  atomically(path, (tmp) => {
    const fd = openSync(tmp, 'w');
    try {
      for (const bytes of chunks) {
        for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, Math.min(WRITE_CHUNK, bytes.length - done));
      }
    } finally {
      closeSync(fd);
    }
  });
}

function atomically(path: string, write: (tmp: string) => void): void {
  mkdirSync(dirname(path) || '.', { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    write(tmp);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
