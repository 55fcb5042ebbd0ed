// The diagnostics table: stable, unique codes, and every code reachable from a test (as
// TypeScript's errorCheck script demands of its diagnostic messages).
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Messages } from '../../compiler/messages.js';
import { repoRoot } from '../support/reference.js';

/** Codes no config can trigger: an info line and the internal-error guard. */
const UNTRIGGERABLE = new Set(['LDMC517', 'LDMC900']);

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|yaml)$/.test(p)) out.push(p);
  }
  return out;
}

describe('diagnostic messages', function () {
  const all = Object.values(Messages);

  it('have unique, well-formed codes', function () {
    const codes = all.map((m) => m.code);
    expect(new Set(codes).size).to.equal(codes.length);
    for (const c of codes) expect(c).to.match(/^LDMC\d{3}$/);
  });

  it('every triggerable code is asserted by some test or broken-config fixture', function () {
    const text = walk(join(repoRoot, 'test')).map((f) => readFileSync(f, 'utf8')).join('\n');
    const untested = all.map((m) => m.code).filter((c) => !UNTRIGGERABLE.has(c) && !text.includes(c));
    expect(untested, 'codes without a test').to.deep.equal([]);
  });
});
