// The CLI's disk host names the first byte that is not UTF-8 (LDMC113 points at it). Node's own
// isUtf8 answers first; the byte walk that locates the fault must agree with it on every input.
import { expect } from 'chai';
import { isUtf8 } from 'node:buffer';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DiskHost, firstInvalidUtf8 } from '../../cli/host.js';
import { NotUtf8Error } from '../../compiler/project.js';

describe('cli/host: UTF-8', function () {
  it('firstInvalidUtf8 finds a fault exactly when Node\'s isUtf8 rejects the bytes (random and near-valid inputs)', function () {
    const near = fc.array(fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xff })), { maxLength: 64 });
    const text = fc.string({ unit: 'binary', maxLength: 32 }).map((s) => [...Buffer.from(s, 'utf8')]);
    fc.assert(
      fc.property(fc.oneof(near, text, fc.tuple(text, near).map(([a, b]) => [...a, ...b])), (bytes) => {
        const b = Uint8Array.from(bytes);
        const bad = firstInvalidUtf8(b);
        expect(bad < 0, `bytes ${Buffer.from(b).toString('hex')}`).to.equal(isUtf8(b));
        if (bad >= 0) expect(isUtf8(b.subarray(0, bad))).to.equal(true); // everything before it is well formed
      }),
      { seed: 20261205, numRuns: 5000 },
    );
  });

  it('reads a file with a bad byte as NotUtf8Error at that character', function () {
    const dir = mkdtempSync(join(tmpdir(), 'ldmc-host-'));
    try {
      const f = join(dir, 'x.yaml');
      writeFileSync(f, Buffer.concat([Buffer.from('model: é\n  x: '), Buffer.from([0xc3, 0x28])]));
      const r = new DiskHost().readFile(f);
      expect(r).to.be.instanceOf(NotUtf8Error);
      expect((r as NotUtf8Error).byte).to.equal(0xc3);
      expect((r as NotUtf8Error).text.slice(0, (r as NotUtf8Error).offset)).to.equal('model: é\n  x: ');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
