// The compiler's host on disk: the CLI's one place that reads config files (compiler/ never does).
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { CompilerHost } from '../compiler/program.js';

export class DiskHost implements CompilerHost {
  readFile(path: string): string | Error {
    try {
      if (statSync(path).isDirectory()) return new Error('is a directory');
      return readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return new Error(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message);
    }
  }
  fileExists(path: string): boolean {
    return existsSync(path);
  }
}
