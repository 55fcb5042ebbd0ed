// The run's scalar log (JSONL, one object per logged step) and its loss-curve picture.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { writeAtomic } from '../util/atomic.js';

export type Scalars = Record<string, number>;

export interface LogRecord {
  step: number;
  epoch: number;
  time: number;
  [metric: string]: number;
}

export class MetricsLog {
  constructor(readonly path: string) {}

  append(rec: LogRecord): void {
    appendFileSync(this.path, JSON.stringify(rec) + '\n');
  }

  /** All records; with `upTo`, drops those after that step (a resumed run rewrites its future). */
  read(upTo?: number): LogRecord[] {
    if (!existsSync(this.path)) return [];
    const out: LogRecord[] = [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as LogRecord;
        if (upTo === undefined || r.step <= upTo) out.push(r);
      } catch {
        // a line cut short by a kill: everything before it is kept
      }
    }
    return out;
  }

  /** Keeps the records up to `step` (after a resume from that step). */
  truncate(step: number): void {
    const keep = this.read(step);
    writeAtomic(this.path, keep.map((r) => JSON.stringify(r)).join('\n') + (keep.length ? '\n' : ''));
  }
}

/** A PNG line chart of the given series against step (SVG rasterised by sharp). */
export async function writeLossCurve(path: string, records: readonly LogRecord[], keys: readonly string[]): Promise<void> {
  const W = 800, H = 400, L = 60, R = 20, T = 30, B = 40;
  const series = keys.map((k) => records.filter((r) => Number.isFinite(r[k])).map((r) => [r.step, r[k]!] as const)).filter((s) => s.length > 0);
  const pts = series.flat();
  if (pts.length === 0) return;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-12);
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
  const lines = series.map((s, i) => {
    const c = colors[i % colors.length];
    const line = `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${s.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`;
    // Sparse series (validation) get dots: a single point would draw no line at all.
    const dots = s.length < 50 ? s.map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${c}"/>`).join('') : '';
    return line + dots;
  });
  const legend = keys.map((k, i) => `<text x="${L + 10 + i * 200}" y="20" font-size="13" fill="${colors[i % colors.length]}">${k}</text>`);
  const ticks = [0, 0.5, 1].map((f) => {
    const y = y0 + f * (y1 - y0);
    return `<text x="${L - 6}" y="${sy(y) + 4}" font-size="11" text-anchor="end">${y.toPrecision(3)}</text>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="100%" height="100%" fill="white"/>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
<text x="${L}" y="${H - 12}" font-size="11">${x0}</text><text x="${W - R}" y="${H - 12}" font-size="11" text-anchor="end">${x1} steps</text>
${ticks.join('')}${lines.join('')}${legend.join('')}</svg>`;
  writeAtomic(path, await sharp(Buffer.from(svg)).png().toBuffer());
}
