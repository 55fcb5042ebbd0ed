// runtime/images: [-1, 1] tensors → bytes, torchvision make_grid layout, PNG files.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../runtime/backend.js';
import { encodePng, makeGrid, readPng, readPngText, toUint8Images, withPngText, writePng, type Uint8Images } from '../../runtime/images/index.js';

/** n images of h×w×c whose pixel (k, y, x, ch) is 10·k + 3·y + x + ch (distinct, < 255 for small sizes). */
function known(n: number, h: number, w: number, c: number): Uint8Images {
  const data = new Uint8Array(n * h * w * c);
  for (let k = 0; k < n; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) data[((k * h + y) * w + x) * c + ch] = 10 * (k + 1) + 3 * y + x + ch;
  return { data, shape: [n, h, w, c] };
}

describe('runtime/images', function () {
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('maps [-1, 1] to bytes: clamped, (x + 1)/2·255, rounded half up as save_image does; NaN → 0', function () {
    const x = tf.tensor4d([-2, -1, 0, 1, 2, 0.5, -0.5, NaN], [1, 2, 2, 2]) as Tensor4D;
    const img = toUint8Images(x);
    x.dispose();
    expect(img.shape).to.deep.equal([1, 2, 2, 2]);
    // 0 → 127.5 → 128; 0.5 → 191.25 → 191; −0.5 → 63.75 → 64
    expect([...img.data]).to.deep.equal([0, 0, 128, 255, 255, 191, 64, 0]);
  });

  it("truncates with rounding 'down', as txt2img.py's 255·clamp((x + 1)/2).astype(uint8) does", function () {
    const x = tf.tensor4d([-2, -1, 0, 1, 2, 0.5, -0.5, NaN], [1, 2, 2, 2]) as Tensor4D;
    const img = toUint8Images(x, { rounding: 'down' });
    x.dispose();
    // 0 → 127.5 → 127; 0.5 → 191.25 → 191; −0.5 → 63.75 → 63
    expect([...img.data]).to.deep.equal([0, 0, 127, 255, 255, 191, 63, 0]);
  });

  it('writes text chunks after IHDR (tEXt for Latin-1, iTXt otherwise) that readPngText and sharp read back', async function () {
    const img = makeGrid(known(1, 3, 4, 3));
    const entries: Array<[string, string]> = [['prompt', 'a café at dawn, 50mm'], ['negative', '低画質 🙂'], ['seed', '42']];
    const png = await encodePng(img, { text: entries });
    const plain = await encodePng(img);
    // the pixels and the rest of the file are sharp's; the chunks sit between IHDR and the rest
    expect(Buffer.from(png.subarray(0, 33)).equals(Buffer.from(plain.subarray(0, 33)))).to.equal(true);
    expect(Buffer.from(png.subarray(png.length - (plain.length - 33))).equals(Buffer.from(plain.subarray(33)))).to.equal(true);
    expect(String.fromCharCode(...png.subarray(37, 41))).to.equal('tEXt');
    expect([...readPngText(png)]).to.deep.equal(entries);
    expect(readPngText(plain).size).to.equal(0);
    const back = await readPng(png);
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).to.equal(true);
    // sharp (libpng) accepts the chunks' CRCs and lists the text
    const sharp = (await import('sharp')).default;
    const meta = await sharp(Buffer.from(png)).metadata();
    expect(meta.comments?.map((c) => [c.keyword, c.text])).to.deep.include(['seed', '42']);
    expect(() => withPngText(png, [['', 'x']])).to.throw(/keyword/);
    expect(() => readPngText(new Uint8Array(10))).to.throw(/not a PNG/);
  });

  it('lays images out like torchvision make_grid: nrow columns, padding around and between, pad value', function () {
    const g = makeGrid(known(3, 2, 2, 1), { nrow: 2, padding: 1, padValue: 9 });
    // make_grid(3 images of 2×2, nrow=2, padding=1) is 7×7: 2 rows × 2 columns of (2 + 1) plus 1
    expect(g.shape).to.deep.equal([7, 7, 1]);
    const P = 9;
    // prettier-ignore
    expect([...g.data]).to.deep.equal([
      P, P, P, P, P, P, P,
      P, 10, 11, P, 20, 21, P,
      P, 13, 14, P, 23, 24, P,
      P, P, P, P, P, P, P,
      P, 30, 31, P, P, P, P,
      P, 33, 34, P, P, P, P,
      P, P, P, P, P, P, P,
    ]);
  });

  it('keeps channels (RGB stays interleaved), defaults to nrow 8 / padding 2 / black, and replicates gray to RGB on request', function () {
    const rgb = makeGrid(known(2, 1, 1, 3));
    // 2 images < nrow 8: one row of 2; (1 + 2)·2 + 2 wide, 1 + 2 + 2 high
    expect(rgb.shape).to.deep.equal([5, 8, 3]);
    const at = (g: { data: Uint8Array; shape: readonly number[] }, y: number, x: number) => [...g.data.slice((y * g.shape[1]! + x) * g.shape[2]!, (y * g.shape[1]! + x + 1) * g.shape[2]!)];
    expect(at(rgb, 2, 2)).to.deep.equal([10, 11, 12]);
    expect(at(rgb, 2, 5)).to.deep.equal([20, 21, 22]);
    expect(at(rgb, 0, 0)).to.deep.equal([0, 0, 0]);
    const gray = makeGrid(known(2, 1, 1, 1), { rgb: true, padding: 0 });
    expect(gray.shape).to.deep.equal([1, 2, 3]);
    expect([...gray.data]).to.deep.equal([10, 10, 10, 20, 20, 20]);
    // a single image comes back as it is (make_grid returns it unpadded)
    const one = makeGrid(known(1, 2, 3, 1));
    expect(one.shape).to.deep.equal([2, 3, 1]);
    expect([...one.data]).to.deep.equal([...known(1, 2, 3, 1).data]);
    expect(() => makeGrid(known(2, 1, 1, 1), { nrow: 0 })).to.throw(/nrow/);
  });

  it('writes PNGs atomically (grayscale for 1 channel, RGB for 3) and reads them back exactly', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'ldmc-images-'));
    try {
      for (const c of [1, 3]) {
        const grid = makeGrid(known(5, 3, 4, c), { nrow: 2 });
        const path = join(dir, 'sub', `grid${c}.png`);
        await writePng(path, grid);
        const bytes = readFileSync(path);
        expect([...bytes.subarray(0, 8)]).to.deep.equal([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        // IHDR: width, height, bit depth 8, colour type 0 (gray) or 2 (RGB)
        expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20), bytes[24], bytes[25]]).to.deep.equal([grid.shape[1], grid.shape[0], 8, c === 1 ? 0 : 2]);
        const back = await readPng(path);
        expect(back.shape).to.deep.equal(grid.shape);
        expect(Buffer.from(back.data).equals(Buffer.from(grid.data))).to.equal(true);
        expect(Buffer.from(await encodePng(grid)).equals(bytes)).to.equal(true);
      }
      expect(readdirSync(join(dir, 'sub')).sort()).to.deep.equal(['grid1.png', 'grid3.png']);
      expect(existsSync(join(dir, 'sub', `grid1.png.tmp-${process.pid}`))).to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('round-trips a sampled-looking batch: tensor → bytes → grid → PNG → pixels', async function () {
    const x = tf.randomUniform([4, 5, 6, 3], -1.2, 1.2, 'float32', 3) as Tensor4D;
    const imgs = toUint8Images(x);
    x.dispose();
    const grid = makeGrid(imgs, { nrow: 2 });
    expect(grid.shape).to.deep.equal([2 * (5 + 2) + 2, 2 * (6 + 2) + 2, 3]);
    const back = await readPng(await encodePng(grid));
    expect(Buffer.from(back.data).equals(Buffer.from(grid.data))).to.equal(true);
    // image 3 (row 1, column 1) starts at (2 + 7, 2 + 8)
    const off = ((9 * grid.shape[1] + 10) * 3);
    expect([...back.data.slice(off, off + 3)]).to.deep.equal([...imgs.data.slice(3 * 5 * 6 * 3, 3 * 5 * 6 * 3 + 3)]);
  });
});
