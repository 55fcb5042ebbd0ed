// Text output stays readable whatever the input: code frames show a window of the line around the
// caret with `…` marks and escaped control characters, text output prints at most a few diagnostics
// per file and says how many more there were, and JSON keeps them all. Through the real CLI (`main`)
// on real files.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRAME_COLUMNS, MAX_LINE } from '../../cli/format.js';
import { MAX_PRINTED_PER_FILE } from '../../cli/io.js';
import { main } from '../../cli/main.js';

async function check(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const code = await main(['check', ...args], { out: (s) => out.push(...s.split('\n')), err: (s) => err.push(...s.split('\n')), color: false });
  return { code, out, err };
}

describe('code frames and the per-file cap (ldmc check, text output)', function () {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'ldmc-frames-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shows a window of at most 160 columns around the caret, with … at both cut ends and the character escaped', async function () {
    const file = join(dir, 'long-line.yaml');
    writeFileSync(file, `model:\n  target: ${'a'.repeat(5000)}\u0001${'b'.repeat(5000)}\n`);
    const { code, out } = await check([file]);
    expect(code).to.equal(1);
    expect(out[0]).to.match(/long-line\.yaml:2:5011: error\[LDMC114\]: .* the control character U\+0001$/);
    const src = out.find((l) => l.startsWith('  2 | '))!;
    const caret = out[out.indexOf(src) + 1]!;
    const shown = src.slice('  2 | '.length);
    expect([...shown].length).to.be.at.most(FRAME_COLUMNS);
    expect(shown.startsWith('…a')).to.equal(true);
    expect(shown.endsWith('b…')).to.equal(true);
    expect(shown).to.include('a\\x01b');
    // The caret stands under the escape, and covers all of it.
    expect(caret.indexOf('^')).to.equal(src.indexOf('\\x01'));
    expect(caret).to.match(/^ {4}\| +\^{4}$/);
    for (const l of out) expect([...l].length, l.slice(0, 80)).to.be.at.most(MAX_LINE);
  });

  it('escapes a tab as →, and U+FFFD and bidi overrides as \\u sequences, in a short line left uncut', async function () {
    const file = join(dir, 'odd.yaml');
    writeFileSync(file, 'model:\n  target: x\u202e\ufffdy\n\tparams: {}\n');
    const { out } = await check([file]);
    const lines = out.filter((l) => /^\s+\d+ \| /.test(l));
    expect(lines.join('\n')).to.not.match(/[\u202e\ufffd\t]/);
    expect(lines.some((l) => l.includes('x\\u202e\\ufffdy'))).to.equal(true);
    expect(lines.some((l) => l.includes('…'))).to.equal(false);
  });

  it(`prints ${MAX_PRINTED_PER_FILE} diagnostics per file, then a line saying how many more; --format json lists all`, async function () {
    const file = join(dir, 'many.yaml');
    const keys = Array.from({ length: 12 }, (_, i) => `    bogus_param_${i}: 1`).join('\n');
    writeFileSync(file, `model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n${keys}\n`);
    const json = await check(['--format', 'json', file]);
    const all = (JSON.parse(json.out[0]!) as { diagnostics: { code: string }[] }).diagnostics;
    expect(all.length).to.be.at.least(12);
    const text = await check([file]);
    const heads = text.out.filter((l) => / (error|warning|info)\[LDMC\d{3}\]: /.test(l));
    expect(heads).to.have.length(MAX_PRINTED_PER_FILE);
    const more = all.length - MAX_PRINTED_PER_FILE;
    expect(text.out.at(-1)).to.match(new RegExp(`many\\.yaml: ${more} more diagnostics not shown \\(${more} errors\\); --format json lists them all$`));
    // The count still covers every diagnostic.
    expect(text.err.join('\n')).to.include(`${all.length} errors`);
  });
});
