// The one progress reporter (runtime/util/progress.ts) of train, sample and convert, written to a
// sink that keeps what it is given: one redrawn line on a terminal, a line per ~10% in a log.
import { expect } from 'chai';
import { Progress, type ProgressSink } from '../../runtime/util/progress.js';

function sink(tty: boolean): ProgressSink & { readonly writes: string[] } {
  const writes: string[] = [];
  return { tty, writes, write: (s) => void writes.push(s) };
}

/** A clock that advances `stepMs` each time it is read after the first. */
function clock(stepMs: number): () => number {
  let t = 0;
  return () => {
    const now = t;
    t += stepMs;
    return now;
  };
}

describe('Progress', function () {
  it('on a terminal redraws one line per update and ends it once', function () {
    const s = sink(true);
    const p = new Progress(s, 5, { unit: 'step', label: 'ldmc: sampling', now: clock(500) });
    for (let i = 1; i <= 5; i++) p.update(i, {}, i <= 3 ? 'row 1/2 (class 0)' : 'row 2/2 (class 1)');
    p.done();
    expect(s.writes).to.have.length(6);
    for (const w of s.writes.slice(0, 5)) {
      expect(w.startsWith('\r')).to.equal(true);
      expect(w.endsWith('\x1b[K')).to.equal(true);
      expect(w).not.to.include('\n');
    }
    expect(s.writes[5]).to.equal('\n');
    expect(s.writes[0]).to.match(/^\rldmc: sampling row 1\/2 \(class 0\)  █+·+ step 1\/5 \(20%\)  2\.00 step\/s  ETA 0:02/);
    expect(s.writes[4]).to.match(/row 2\/2 \(class 1\)  █{24} step 5\/5 \(100%\)  .* 0:02 in all/);
  });

  it('in a log prints a line about every 10% and the last one', function () {
    const s = sink(false);
    const p = new Progress(s, 95, { unit: 'step', now: clock(10) });
    for (let i = 1; i <= 95; i++) p.update(i, { loss: 0.5, lr: 1.6e-4 });
    p.done();
    expect(s.writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).to.equal(true);
    const steps = s.writes.map((w) => Number(/step (\d+)\/95/.exec(w)![1]));
    // The first update at or past each 10% mark (10% of 95 is 9.5 steps), then the last.
    expect(steps).to.deep.equal([10, 19, 29, 38, 48, 57, 67, 76, 86, 95]);
    expect(s.writes[0]).to.include('loss 0.5000  lr 1.60e-4');
  });

  it('counts a resumed run from where it starts (rate, ETA and the first 10% mark)', function () {
    const s = sink(false);
    const p = new Progress(s, 100, { unit: 'step', start: 40, now: clock(1000) });
    for (let i = 41; i <= 100; i++) p.update(i);
    const steps = s.writes.map((w) => Number(/step (\d+)\/100/.exec(w)![1]));
    expect(steps).to.deep.equal([50, 60, 70, 80, 90, 100]);
    // 10 steps in 10 s: 1 step/s, 50 to go.
    expect(s.writes[0]).to.match(/1\.00 step\/s  ETA 0:50/);
  });

  it('shows bytes as bytes, and nothing before its delay (a short job stays quiet)', function () {
    const quiet = sink(false);
    const q = new Progress(quiet, 4 << 20, { amounts: 'bytes', delayMs: 1000, now: clock(100) });
    for (let i = 1; i <= 4; i++) q.update(i << 20);
    q.done();
    expect(quiet.writes).to.deep.equal([]);

    const s = sink(false);
    const p = new Progress(s, 3 * 2 ** 30, { label: 'ldmc: converting', amounts: 'bytes', delayMs: 1000, now: clock(400) });
    for (let i = 1; i <= 30; i++) p.update(i * 0.1 * 2 ** 30);
    expect(s.writes.length).to.be.within(8, 11);
    expect(s.writes.at(-1)).to.match(/^ldmc: converting  █{24} 3\.0 GiB\/3\.0 GiB \(100%\)  \d+\.\d MiB\/s  0:12 in all\n$/);
  });
});
