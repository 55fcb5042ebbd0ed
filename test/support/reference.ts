// Locates ../shared/reference (or $LDMC_REFERENCE). Tests that need it call `requireReference(this)`
// so a clone without the data reports them as pending with the reason, instead of failing.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file compiles to dist/test/support/reference.js). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const referenceDir: string = process.env.LDMC_REFERENCE
  ? resolve(process.env.LDMC_REFERENCE)
  : join(repoRoot, '..', 'shared', 'reference');

export function referencePath(...parts: string[]): string {
  return join(referenceDir, ...parts);
}

export function hasReference(...parts: string[]): boolean {
  return existsSync(referencePath(...parts));
}

/** Marks the running test or hook as pending when the reference file is absent. */
export function requireReference(ctx: Mocha.Context, ...parts: string[]): string {
  const p = referencePath(...parts);
  if (!existsSync(p)) {
    ctx.test!.title += ` (pending: reference data not found at ${p}; set LDMC_REFERENCE)`;
    ctx.skip();
  }
  return p;
}
