// Ctrl-C in the CLI (cli/interrupt.ts), with real processes and real signals: the first SIGINT
// aborts the work's signal and the work decides how to end; a second one exits 130 at once.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support/reference.js';

const child = join(repoRoot, 'dist', 'test', 'cli', 'interrupt-child.js');

/** Runs the child in `mode`, sending SIGINT each time its output shows one of `on` lines. */
function run(mode: string, on: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, mode]);
    let out = '';
    let sent = 0;
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      while (sent < on.length && out.split('\n').includes(on[sent]!)) {
        sent++;
        p.kill('SIGINT');
      }
    });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`no exit after ${on.length} SIGINT: ${out}`));
    }, 30000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('Ctrl-C (cli/interrupt.ts)', function () {
  this.timeout(60000);

  it('the first SIGINT aborts the work, which ends as it chooses; the handler is then removed', async function () {
    const r = await run('finish', ['ready']);
    expect(r.out.split('\n')).to.deep.equal(['ready', 'notice: stopping', 'aborted', 'done, SIGINT listeners 0', '']);
    expect(r.code).to.equal(7);
  });

  it('a second SIGINT exits 130 at once, while the work is still running', async function () {
    const r = await run('stuck', ['ready', 'aborted']);
    expect(r.code).to.equal(130);
    expect(r.out).to.include('aborted');
    expect(r.out).not.to.include('done');
  });
});
