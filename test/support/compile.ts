// Test helpers: the real compiler over real files (disk) or in-memory texts.
import { existsSync, readFileSync } from 'node:fs';
import { compile, type CompileResult, type CompilerHost } from '../../compiler/program.js';

export const diskHost: CompilerHost = {
  readFile: (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      return e as Error;
    }
  },
  fileExists: (p) => existsSync(p),
};

export function memoryHost(files: Record<string, string>, existing: readonly string[] = []): CompilerHost {
  return {
    readFile: (p) => (p in files ? files[p]! : new Error('no such file')),
    fileExists: (p) => p in files || existing.includes(p),
  };
}

export function compileText(text: string, overrides: string[] = [], name = 'test.yaml'): CompileResult {
  return compile({ files: [name], overrides }, memoryHost({ [name]: text }));
}

export function codes(r: CompileResult): string[] {
  return r.diagnostics.map((d) => d.code);
}

export function find(r: CompileResult, code: string) {
  return r.diagnostics.find((d) => d.code === code);
}
