// A one-line progress bar on a TTY (it/s, loss, ETA), or a line every ~10% elsewhere (CI logs).
export class Progress {
  private readonly t0 = Date.now();
  private lastPrinted = -1;
  private readonly tty: boolean;

  constructor(
    readonly total: number,
    readonly start: number,
    private readonly write: (s: string) => void = (s) => process.stderr.write(s),
    tty = Boolean(process.stderr.isTTY),
  ) {
    this.tty = tty;
  }

  update(step: number, info: Record<string, number>, unit = 'it'): void {
    const done = step - this.start;
    const secs = (Date.now() - this.t0) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (this.total - step) / rate : Infinity;
    const pct = Math.floor((100 * step) / Math.max(1, this.total));
    const fields = Object.entries(info).map(([k, v]) => `${k} ${fmt(v)}`).join('  ');
    const width = 24;
    const fill = Math.round((width * step) / Math.max(1, this.total));
    const line = `${'█'.repeat(fill)}${'·'.repeat(width - fill)} ${step}/${this.total}  ${rate.toFixed(2)} ${unit}/s  ${fields}  ETA ${clock(eta)}`;
    if (this.tty) this.write(`\r${line}\x1b[K`);
    else if (pct >= this.lastPrinted + 10 || step === this.total) {
      this.lastPrinted = pct - (pct % 10);
      this.write(line + '\n');
    }
  }

  done(): void {
    if (this.tty) this.write('\n');
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2);
}

export function clock(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
