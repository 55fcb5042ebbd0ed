// The broken-config corpus: every test/fixtures/broken/NN-name.yaml runs through the REAL CLI as a
// child process (`node bin/ldmc.js check --format json ...`) and must give the exit status and the
// diagnostics its header promises, and never a stack trace or an "internal error".
//
// The header format is described in test/support/broken-fixtures.ts.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cases, fixtureRel, reportedDiagnostics, runAllCases, STACK_TRACE, type Case, type JsonDiagnostic, type RunResult } from '../support/broken-fixtures.js';

function describeDiags(ds: readonly JsonDiagnostic[]): string {
  return ds.length ? ds.map((d) => `  ${d.file}:${d.line}:${d.col} ${d.code} ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`).join('\n') : '  (none)';
}

/** The checks whose failure is a bug in the input expectations or the compiler's diagnostics. */
function checkDiagnostics(c: Case, r: RunResult, diags: JsonDiagnostic[]): void {
  const all = `\n${describeDiags(diags)}`;
  expect(r.status, `exit status of ldmc check ${c.files.join(' ')} ${c.args.join(' ')}; diagnostics:${all}`).to.equal(c.exit ?? 1);
  for (const e of c.expects) {
    const want = e.file === '--set' ? (f: string | null) => f?.startsWith('--set ') === true : (f: string | null) => f === (e.file === undefined ? c.files[0] : join(fixtureRel, e.file));
    const hit = diags.find((d) => d.code === e.code && (e.line === undefined || d.line === e.line) && want(d.file));
    expect(hit, `expected ${e.code}${e.line !== undefined ? ` at line ${e.line}` : ''}${e.file ? ` in ${e.file}` : ''}; got:${all}`).to.not.equal(undefined);
  }
  for (const code of c.absentCodes) {
    expect(diags.filter((d) => d.code === code), `${code} must not be reported; got:${all}`).to.deep.equal([]);
  }
  for (const [code, text] of c.messages) {
    expect(diags.some((d) => d.code === code && d.message.includes(text)), `expected a ${code} whose message contains ${JSON.stringify(text)}; got:${all}`).to.equal(true);
  }
  for (const [code, text] of c.hints) {
    expect(diags.some((d) => d.code === code && (d.hint ?? '').includes(text)), `expected a ${code} whose hint contains ${JSON.stringify(text)}; got:${all}`).to.equal(true);
  }
  for (const [code, file] of c.fileLabels) {
    expect(diags.some((d) => d.code === code && d.file === file), `expected a ${code} in file ${JSON.stringify(file)}; got:${all}`).to.equal(true);
  }
}

describe('broken configs through the CLI (test/fixtures/broken)', function () {
  this.timeout(120_000);
  const results = new Map<string, RunResult>();

  before(async function () {
    for (const [name, r] of await runAllCases()) results.set(name, r);
  });

  it('has at least 40 cases, each with an expectation', function () {
    expect(cases.length).to.be.at.least(40);
    for (const c of cases) expect(c.expects.length, `${c.name} has no '# expect: ... code=' line`).to.be.at.least(1);
  });

  for (const c of cases) {
    it(`${c.name}: ${c.expects.map((e) => `${e.code}@${e.line ?? '?'}`).join(', ')}${c.knownBug ? ' [known bug]' : ''}`, function () {
      const r = results.get(c.name)!;
      const both = `\n${r.stdout}\n${r.stderr}`;
      const knownBug = (why: string): never => {
        this.test!.title += ` — KNOWN COMPILER BUG: ${c.knownBug} (${why})`;
        this.skip();
      };
      if (r.signal && c.knownBug) knownBug(`killed by ${r.signal} after ${Math.round(r.ms)} ms`);
      // Hard requirements, known bug or not: it ends, no stack, machine-readable output.
      expect(r.signal, `killed by ${r.signal} after ${Math.round(r.ms)} ms (limit ${c.timeoutMs} ms)`).to.equal(null);
      expect(STACK_TRACE.test(both), `stack trace in the output:${both}`).to.equal(false);
      expect(/internal error/i.test(both), `internal error in the output:${both}`).to.equal(false);
      const diags = reportedDiagnostics(r);
      if (!diags) throw new Error(`stdout is not the JSON report (exit ${r.status}):${both}`);
      for (const d of diags) {
        expect(d.code).to.match(/^LDMC\d{3}$/);
        expect(d.code).to.not.equal('LDMC900');
      }
      for (const a of c.absent) expect(existsSync(a), `${a} exists: the config ran something`).to.equal(false);
      if (!c.knownBug) {
        checkDiagnostics(c, r, diags);
        return;
      }
      try {
        checkDiagnostics(c, r, diags);
      } catch (e) {
        knownBug((e as Error).message.split('\n')[0]!);
      }
      throw new Error(`${c.name} passes now: the known bug (${c.knownBug}) looks fixed; remove its '# known-bug:' line`);
    });
  }
});
