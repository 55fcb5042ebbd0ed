// The compiler's host on disk: the CLI's one place that reads config files (compiler/ never does).
import { isUtf8 } from 'node:buffer';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { NotUtf8Error, type CompilerHost } from '../compiler/project.js';

export class DiskHost implements CompilerHost {
  readFile(path: string): string | Error {
    let bytes: Buffer;
    try {
      if (statSync(path).isDirectory()) return new Error('is a directory');
      bytes = readFileSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return new Error(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message);
    }
    // Decoding as 'utf8' would turn invalid bytes into U+FFFD silently; a binary file must be named.
    const text = bytes.toString('utf8');
    if (isUtf8(bytes)) return text; // native check; the byte walk below only runs to name the bad byte
    const bad = firstInvalidUtf8(bytes);
    if (bad < 0) return text;
    return new NotUtf8Error(text, bytes.subarray(0, bad).toString('utf8').length, bytes[bad]!);
  }
  fileExists(path: string): boolean {
    return existsSync(path);
  }
}

/** The index of the first byte that does not belong to a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    // Lead byte: how many continuation bytes, and the range of the first one (no overlongs, no surrogates, ≤ U+10FFFF).
    let need: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}
