// The one progress reporter of train, sample and convert. On a terminal it redraws one line
// (bar, count, rate, fields, ETA); in a log (CI, a pipe) it prints a line about every 10% and the
// last one. It writes only to the sink it is given: library code never picks process.stderr.

/** Where progress goes, and whether it is a terminal (one redrawn line) or a log (whole lines). */
export interface ProgressSink {
  write(s: string): void;
  readonly tty: boolean;
}

/** How amounts read: `step 12/100` and `3.20 step/s`, or `1.2 GiB/4.0 GiB` and `310 MiB/s`. */
export type ProgressAmounts = 'count' | 'bytes';

export interface ProgressOptions {
  /** What is counted when `amounts` is 'count' ('step', 'tensor', …). */
  readonly unit?: string;
  readonly amounts?: ProgressAmounts;
  /** The line's prefix, e.g. `ldmc: sampling`; `update` may add a note after it (a row label). */
  readonly label?: string;
  /** Where the count starts (a resumed run): the rate and ETA count only what this run did. */
  readonly start?: number;
  /** Nothing is shown until this many ms have passed, so a job that ends sooner stays quiet. */
  readonly delayMs?: number;
  /** The clock, in ms. */
  readonly now?: () => number;
}

const BAR_WIDTH = 24;

export class Progress {
  private readonly t0: number;
  private readonly now: () => number;
  private readonly start: number;
  private nextMark: number;
  private drawn = false;

  /** Without a sink nothing is shown (an embedding application that wants no bar). */
  constructor(
    private readonly sink: ProgressSink | undefined,
    readonly total: number,
    private readonly o: ProgressOptions = {},
  ) {
    this.now = o.now ?? Date.now;
    this.t0 = this.now();
    this.start = o.start ?? 0;
    // A resumed run's first 10% mark is the one after where it starts.
    this.nextMark = Math.floor(this.percent(this.start) / 10) * 10 + 10;
  }

  /** Reports `done` of `total`, with `fields` (`loss 0.1234`) and a `note` after the label. */
  update(done: number, fields: Readonly<Record<string, number>> = {}, note = ''): void {
    const sink = this.sink;
    if (!sink) return;
    const elapsed = this.now() - this.t0;
    if (elapsed < (this.o.delayMs ?? 0)) return;
    const pct = this.percent(done);
    const last = done >= this.total;
    if (!sink.tty && pct < this.nextMark && !last) return;
    const line = this.line(done, fields, note, elapsed / 1000);
    if (sink.tty) {
      sink.write(`\r${line}\x1b[K`);
      this.drawn = true;
    } else {
      sink.write(line + '\n');
      this.nextMark = Math.floor(pct / 10) * 10 + 10;
    }
  }

  /** Ends the redrawn line on a terminal (a log has nothing to end). */
  done(): void {
    if (this.sink?.tty && this.drawn) this.sink.write('\n');
    this.drawn = false;
  }

  private percent(done: number): number {
    return Math.floor((100 * done) / Math.max(1, this.total));
  }

  private line(done: number, fields: Readonly<Record<string, number>>, note: string, secs: number): string {
    const rate = secs > 0 ? (done - this.start) / secs : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const fill = Math.min(BAR_WIDTH, Math.max(0, Math.round((BAR_WIDTH * done) / Math.max(1, this.total))));
    const head = [this.o.label, note].filter(Boolean).join(' ');
    const parts = [
      ...(head ? [head] : []),
      `${'█'.repeat(fill)}${'·'.repeat(BAR_WIDTH - fill)} ${this.amount(done)} (${this.percent(done)}%)`,
      this.rate(rate),
      ...Object.entries(fields).map(([k, v]) => `${k} ${fmt(v)}`),
      done >= this.total ? `${clock(secs)} in all` : `ETA ${clock(eta)}`,
    ];
    return parts.join('  ');
  }

  private amount(done: number): string {
    const a = this.o.amounts ?? 'count';
    switch (a) {
      case 'count':
        return `${this.o.unit ?? 'it'} ${done}/${this.total}`;
      case 'bytes':
        return `${bytes(done)}/${bytes(this.total)}`;
      default: {
        const never: never = a;
        return never;
      }
    }
  }

  private rate(r: number): string {
    const a = this.o.amounts ?? 'count';
    switch (a) {
      case 'count':
        return `${r.toFixed(2)} ${this.o.unit ?? 'it'}/s`;
      case 'bytes':
        return `${bytes(r)}/s`;
      default: {
        const never: never = a;
        return never;
      }
    }
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e-3 || v === 0 || !Number.isFinite(v) ? v.toFixed(4) : v.toExponential(2);
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** Seconds as m:ss or h:mm:ss; `--:--` when unknown. */
export function clock(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
