#!/usr/bin/env node
// Writes N random 256×256 RGB PNGs (smooth colour fields plus noise, seeded) into a folder: the
// image-folder data for the celeba256 training-step benchmark (bench/scale/README.md).
// Usage: node bench/scale/make-images.mjs OUT_DIR [N=200] [SIZE=256]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

const [out, nArg, sizeArg] = process.argv.slice(2);
if (!out) throw new Error('usage: make-images.mjs OUT_DIR [N] [SIZE]');
const n = Number(nArg ?? 200), size = Number(sizeArg ?? 256);
mkdirSync(out, { recursive: true });
let s = 12345;
const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
for (let k = 0; k < n; k++) {
  const px = Buffer.alloc(size * size * 3);
  const f = [1 + 4 * rand(), 1 + 4 * rand(), 1 + 4 * rand()], ph = [6 * rand(), 6 * rand(), 6 * rand()];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) {
        const v = 127 + 90 * Math.sin((f[c] * (x + y * (c + 1))) / size * Math.PI + ph[c]) + 30 * (rand() - 0.5);
        px[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(out, `img${String(k).padStart(4, '0')}.png`));
}
console.log(`wrote ${n} ${size}×${size} PNGs to ${out}`);
