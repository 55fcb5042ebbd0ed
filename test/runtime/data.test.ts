// runtime/data: IDX parsing (real Fashion-MNIST when installed), transforms, the dataset layouts
// on temp fixtures, the threaded loader's determinism, and every rejection (as an error, not a hang).
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import {
  centerCrop,
  createDataset,
  DataError,
  DataLoader,
  DataModule,
  fashionMnistClasses,
  hflip,
  lsunPreprocess,
  makeRng,
  mixSeed,
  padImage,
  parseIdx,
  parseNpyImage,
  randomCrop,
  readIdx,
  resizeBilinearSync,
  tamingPreprocess,
  toFloat,
  type Batch,
  type Dataset,
  type RawImage,
} from '../../runtime/data/index.js';

const fmnist = '/usr/share/datasets/fashion-mnist';
const haveFmnist = existsSync(join(fmnist, 'train-images-idx3-ubyte.gz'));

/** An IDX header + data. */
function idxBytes(type: number, dims: number[], data: Uint8Array): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, k) => head.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([head, data]);
}

/** A w×h RGB image whose pixel (x, y) is [x * 10 + seed, y * 10, (x + y) % 256]. */
function pattern(w: number, h: number, seed = 0): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([(x * 10 + seed) % 256, (y * 10) % 256, (x + y) % 256], (y * w + x) * 3);
  return { data, width: w, height: h, channels: 3 };
}
const png = (img: RawImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
const jpeg = (img: RawImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<DataError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).to.be.instanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

async function collect(dl: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of dl) out.push(b);
  return out;
}

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'ldmc-data-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));
const dir = (name: string) => {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  return d;
};

describe('data: IDX', () => {
  it('parses uint8 and big-endian int16 arrays', () => {
    const u = parseIdx(idxBytes(0x08, [2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6])), 'u.idx');
    expect(u.dtype).to.equal('uint8');
    expect(u.dims).to.deep.equal([2, 3]);
    expect([...u.data]).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const s = parseIdx(idxBytes(0x0b, [2], Uint8Array.from([0x01, 0x02, 0xff, 0xfe])), 's.idx');
    expect([...s.data]).to.deep.equal([0x0102, -2]);
  });

  it('rejects a bad magic and a truncated file, naming the file', async () => {
    const bad = await rejection(() => parseIdx(Uint8Array.from([0x1f, 0x8c, 8, 3, 0, 0, 0, 1]), 'x-images-idx3-ubyte'));
    expect(bad.file).to.equal('x-images-idx3-ubyte');
    expect(bad.message).to.match(/bad IDX magic 0x1f8c0803/);
    const cut = await rejection(() => parseIdx(idxBytes(0x08, [10, 28, 28], new Uint8Array(100)), 'cut.idx'));
    expect(cut.message).to.match(/cut\.idx: truncated IDX: dims 10×28×28 of uint8 need 7856 bytes, file has 116/);
    expect(cut.hint).to.match(/fetch the file again/);
    expect((await rejection(() => parseIdx(Uint8Array.from([0, 0]), 'tiny'))).message).to.match(/truncated IDX/);
  });

  it('reads gzip\'d files and rejects corrupt gzip', async () => {
    const d = dir('idx');
    const f = join(d, 'a-idx1-ubyte.gz');
    writeFileSync(f, gzipSync(idxBytes(0x08, [3], Uint8Array.from([7, 8, 9]))));
    expect([...readIdx(f).data]).to.deep.equal([7, 8, 9]);
    const g = join(d, 'b-idx1-ubyte.gz');
    writeFileSync(g, gzipSync(idxBytes(0x08, [3], Uint8Array.from([7, 8, 9]))).subarray(0, 15));
    const e = await rejection(() => readIdx(g));
    expect(e.file).to.equal(g);
    expect(e.message).to.match(/corrupt gzip/);
  });

  (haveFmnist ? it : it.skip)('reads the real Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
    const tr = readIdx(join(fmnist, 'train-images-idx3-ubyte.gz'));
    const trl = readIdx(join(fmnist, 'train-labels-idx1-ubyte.gz'));
    const te = readIdx(join(fmnist, 't10k-images-idx3-ubyte.gz'));
    const tel = readIdx(join(fmnist, 't10k-labels-idx1-ubyte.gz'));
    expect(tr.dims).to.deep.equal([60000, 28, 28]);
    expect(te.dims).to.deep.equal([10000, 28, 28]);
    expect(trl.dims).to.deep.equal([60000]);
    expect(tel.dims).to.deep.equal([10000]);
    expect([...trl.data.subarray(0, 10)]).to.deep.equal([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect([...tel.data.subarray(0, 10)]).to.deep.equal([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    expect((tr.data.subarray(0, 784) as Uint8Array).reduce((a, b) => a + b, 0)).to.equal(76247);
    expect((te.data.subarray(0, 784) as Uint8Array).reduce((a, b) => a + b, 0)).to.equal(33456);
    const counts = new Array<number>(10).fill(0);
    for (const l of trl.data) counts[l]!++;
    expect(counts).to.deep.equal(new Array(10).fill(6000));
  });
  if (!haveFmnist) console.log(`    (Fashion-MNIST tests skipped: ${fmnist} is absent; run scripts/install-datasets.sh)`);

  (haveFmnist ? it : it.skip)('ldmc.data.FashionMNIST: pad 28 → 32, 3 channels, class and human labels', async () => {
    const ds = createDataset('ldmc.data.FashionMNIST', { split: 'test', channels: 3 });
    expect(ds.length).to.equal(10000);
    const ex = await ds.get(0);
    expect(ex.shape).to.deep.equal([32, 32, 3]);
    expect(ex.class_label).to.equal(9);
    expect(ex.human_label).to.equal(fashionMnistClasses[9]);
    // the 2-px border is black (-1); the channels repeat the grey value
    expect(ex.image[0]).to.equal(-1);
    expect(Math.min(...ex.image)).to.be.at.least(-1);
    expect(Math.max(...ex.image)).to.be.at.most(1);
    const raw = readIdx(join(fmnist, 't10k-images-idx3-ubyte.gz')).data;
    const p = (14 + 2) * 32 + (14 + 2);
    expect(ex.image[p * 3]).to.be.closeTo(raw[14 * 28 + 14]! / 127.5 - 1, 1e-6);
    expect(ex.image[p * 3 + 1]).to.equal(ex.image[p * 3]);
    const bi = await createDataset('ldmc.data.FashionMNIST', { split: 'test', size: 64, resize: 'bilinear' }).get(0);
    expect(bi.shape).to.deep.equal([64, 64, 1]);
    const e = await rejection(() => createDataset('ldmc.data.FashionMNIST', { size: 33 }));
    expect(e.hint).to.match(/resize: bilinear/);
  });

  it('MNIST names the missing file and the way to install it', async () => {
    const e = await rejection(() => createDataset('ldmc.data.MNIST', {}, { dataRoot: join(tmp, 'nowhere') }));
    expect(e.file).to.equal(join(tmp, 'nowhere', 'mnist', 'train-images-idx3-ubyte.gz'));
  });
});

describe('data: transforms', () => {
  const img = pattern(6, 4);
  it('center crop takes (H - h) // 2, (W - w) // 2', () => {
    const c = centerCrop(img, 3, 3);
    expect([c.width, c.height]).to.deep.equal([3, 3]);
    expect([...c.data.subarray(0, 3)]).to.deep.equal([10, 0, 1]); // (x=1, y=0)
  });
  it('random crop and flip are seeded', () => {
    const a = randomCrop(img, 3, 3, makeRng(5)), b = randomCrop(img, 3, 3, makeRng(5));
    expect([...a.data]).to.deep.equal([...b.data]);
    const offsets = new Set<number>();
    for (let s = 0; s < 50; s++) offsets.add(randomCrop(img, 3, 3, makeRng(s)).data[0]!);
    expect([...offsets].sort((x, y) => x - y)).to.deep.equal([0, 10, 20, 30]); // every left offset 0..3
    expect(mixSeed(1, 2)).to.not.equal(mixSeed(2, 1));
  });
  it('hflip mirrors, pad adds a border, scale maps 0 → -1 and 255 → 1', () => {
    const f = hflip(img);
    expect([...f.data.subarray(0, 3)]).to.deep.equal([50, 0, 5]);
    const p = padImage({ data: Uint8Array.from([255]), width: 1, height: 1, channels: 1 }, 2);
    expect(p.width).to.equal(5);
    expect(p.data[12]).to.equal(255);
    expect(p.data.reduce((s, v) => s + v, 0)).to.equal(255);
    const t = toFloat({ data: Uint8Array.from([0, 255, 51]), width: 1, height: 1, channels: 3 });
    expect(t.shape).to.deep.equal([1, 1, 3]);
    expect(t.image[0]).to.equal(-1);
    expect(t.image[1]).to.equal(1);
    expect(t.image[2]).to.be.closeTo(-0.6, 1e-6);
    const up = resizeBilinearSync({ data: Uint8Array.from([0, 100]), width: 2, height: 1, channels: 1 }, 4, 1);
    expect([...up.data]).to.deep.equal([0, 25, 75, 100]);
  });
  it('taming: shorter side to size, then crop; lsun: center square, resize, flip', async () => {
    const t = await tamingPreprocess(pattern(12, 8), 4, false, makeRng(0));
    expect([t.width, t.height]).to.deep.equal([4, 4]);
    const l = await lsunPreprocess(pattern(12, 8), 4, 'bicubic', 1, makeRng(0));
    expect([l.width, l.height]).to.deep.equal([4, 4]);
    const same = await lsunPreprocess(pattern(8, 8), null, 'bicubic', 1, makeRng(0));
    expect([...same.data]).to.deep.equal([...hflip(pattern(8, 8)).data]);
  });
  it('parses taming .npy images (1×3×H×W)', () => {
    const head = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 3, 2, 2), }";
    const pad = 64 - ((10 + head.length + 1) % 64);
    const h = Buffer.from(head + ' '.repeat(pad) + '\n', 'latin1');
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 255, h.length >> 8]);
    const img = parseNpyImage(Buffer.concat([pre, h, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])]), 'x.npy');
    expect([...img.data.subarray(0, 6)]).to.deep.equal([1, 5, 9, 2, 6, 10]);
  });
});

describe('data: image layouts', () => {
  it('image folder: PNG and JPEG, recursive, sorted; exact PNG values; class folders', async () => {
    const d = dir('folder');
    mkdirSync(join(d, 'b'), { recursive: true });
    mkdirSync(join(d, 'a'), { recursive: true });
    writeFileSync(join(d, 'b', '1.png'), await png(pattern(4, 4, 1)));
    writeFileSync(join(d, 'a', '2.jpg'), await jpeg(pattern(4, 4, 2)));
    writeFileSync(join(d, 'a', '1.PNG'), await png(pattern(4, 4, 3)));
    writeFileSync(join(d, 'a', 'notes.txt'), 'not an image');
    const ds = createDataset('ldmc.data.ImageFolder', { root: d, class_folders: true });
    expect(ds.length).to.equal(3);
    const items = await Promise.all([0, 1, 2].map((i) => ds.get(i)));
    expect(items.map((e) => e.relative_file_path_)).to.deep.equal(['a/1.PNG', 'a/2.jpg', 'b/1.png']);
    expect(items.map((e) => e.class_label)).to.deep.equal([0, 0, 1]);
    expect(items[0]!.shape).to.deep.equal([4, 4, 3]);
    expect(items[0]!.image[0]).to.be.closeTo(3 / 127.5 - 1, 1e-6);
    expect(items[0]!.image[3]).to.be.closeTo(13 / 127.5 - 1, 1e-6);
    expect(Math.abs(items[1]!.image[3]! - (12 / 127.5 - 1))).to.be.below(0.1); // JPEG: close
    const sized = await createDataset('ldmc.data.ImageFolder', { root: d, size: 2 }).get(0);
    expect(sized.shape).to.deep.equal([2, 2, 3]);
  });

  it('faces (taming CelebA-HQ/FFHQ): list file + root under the data root', async () => {
    const root = dir('faces');
    mkdirSync(join(root, 'ffhq', 'imgs'), { recursive: true });
    writeFileSync(join(root, 'ffhq', 'imgs', '00000.png'), await png(pattern(8, 6)));
    writeFileSync(join(root, 'ffhq', 'imgs', '00001.png'), await png(pattern(6, 8)));
    writeFileSync(join(root, 'ffhqtrain.txt'), 'imgs/00000.png\nimgs/00001.png\n');
    const ds = createDataset('taming.data.faceshq.FFHQTrain', { size: 4 }, { dataRoot: root });
    expect(ds.length).to.equal(2);
    const ex = await ds.get(1);
    expect(ex.shape).to.deep.equal([4, 4, 3]);
    expect(ex.file_path_).to.equal(join(root, 'ffhq', 'imgs', '00001.png'));
    // keys keep only what is asked for
    const k = await createDataset('ldm.data.faceshq.FFHQTrain', { size: 4, keys: ['image'] }, { dataRoot: root }).get(0);
    expect(k.file_path_).to.equal(undefined);
    // a listed file that does not exist
    writeFileSync(join(root, 'ffhqvalidation.txt'), 'imgs/00000.png\nimgs/missing.png\n');
    const val = createDataset('taming.data.faceshq.FFHQValidation', { size: 4 }, { dataRoot: root });
    const e = await rejection(val.get(1));
    expect(e.file).to.equal(join(root, 'ffhq', 'imgs', 'missing.png'));
    expect(e.message).to.contain(`listed in ${join(root, 'ffhqvalidation.txt')} does not exist`);
    // no list file at all, and a required size
    const nolist = await rejection(() => createDataset('taming.data.faceshq.CelebAHQTrain', { size: 4 }, { dataRoot: root }));
    expect(nolist.file).to.equal(join(root, 'celebahqtrain.txt'));
    expect(nolist.hint).to.match(/--data DIR/);
    expect((await rejection(() => createDataset('taming.data.faceshq.FFHQTrain', {}, { dataRoot: root }))).message).to.match(/missing required param 'size'/);
  });

  it('LSUN: fixed txt_file/data_root, center square → size, seeded flips', async () => {
    const root = dir('lsunroot');
    mkdirSync(join(root, 'lsun', 'churches'), { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(root, 'lsun', 'churches', `${i}.png`), await png(pattern(10, 6, i)));
    writeFileSync(join(root, 'lsun', 'church_outdoor_train.txt'), '0.png\n1.png\n2.png\n3.png\n');
    const ds = createDataset('ldm.data.lsun.LSUNChurchesTrain', { size: 6, flip_p: 1 }, { dataRoot: root });
    const ex = await ds.get(0);
    expect(ex.shape).to.deep.equal([6, 6, 3]);
    expect(ex.relative_file_path_).to.equal('0.png');
    // center square of a 10×6 image starts at x = 2; flipped, pixel 0 is x = 7 → red 70
    expect(ex.image[0]).to.be.closeTo(70 / 127.5 - 1, 1e-6);
    const half = createDataset('ldm.data.lsun.LSUNChurchesTrain', { size: 6 }, { dataRoot: root });
    const a = await half.get(2, { seed: 11 }), b = await half.get(2, { seed: 11 });
    expect([...a.image]).to.deep.equal([...b.image]);
  });

  it('ImageNet: synset folders → sorted class labels, human labels from synset_human.txt', async () => {
    const root = dir('imagenet');
    for (const [syn, n] of [['n02', 2], ['n01', 1]] as const) {
      mkdirSync(join(root, 'train', syn), { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(join(root, 'train', syn, `${syn}_${i}.JPEG`), await jpeg(pattern(8, 8, i)));
    }
    writeFileSync(join(root, 'synset_human.txt'), 'n01 tench, Tinca tinca\nn02 goldfish\n');
    const ds = createDataset('ldm.data.imagenet.ImageNetTrain', { data_root: root, config: { size: 4 } });
    expect(ds.length).to.equal(3);
    const items = await Promise.all([0, 1, 2].map((i) => ds.get(i)));
    expect(items.map((e) => e.class_label)).to.deep.equal([0, 1, 1]);
    expect(items.map((e) => e.human_label)).to.deep.equal(['tench, Tinca tinca', 'goldfish', 'goldfish']);
    expect(items[0]!.shape).to.deep.equal([4, 4, 3]);
    const e = await rejection(() => createDataset('ldm.data.imagenet.ImageNetValidation', { data_root: root }));
    expect(e.hint).to.match(/val/);
  });

  it('registry: unknown targets, targets without a loader, unknown params', async () => {
    const u = await rejection(() => createDataset('ldm.data.lsun.LSUNChurchTrain', {}));
    expect(u.message).to.contain("unknown dataset target 'ldm.data.lsun.LSUNChurchTrain'");
    expect(u.hint).to.contain('LSUNChurchesTrain');
    const n = await rejection(() => createDataset('ldm.data.landscapes.RFWTrain', {}));
    expect(n.message).to.match(/has no loader/);
    const p = await rejection(() => createDataset('ldmc.data.ImageFolder', { root: tmp, sise: 3 }));
    expect(p.hint).to.contain("'size'");
    const t = await rejection(() => createDataset('ldmc.data.FashionMNIST', { split: 'val' }));
    expect(t.message).to.match(/split must be 'train' or 'test', got 'val'/);
  });
});

describe('data: rejections', () => {
  it('a corrupt PNG names the file', async () => {
    const d = dir('corrupt');
    writeFileSync(join(d, 'bad.png'), Buffer.concat([(await png(pattern(4, 4))).subarray(0, 30)]));
    const ds = createDataset('ldmc.data.ImageFolder', { root: d });
    const e = await rejection(ds.get(0));
    expect(e.file).to.equal(join(d, 'bad.png'));
    expect(e.message).to.match(/cannot decode image/);
  });
  it('an empty folder is an error, not an empty dataset', async () => {
    const e = await rejection(() => createDataset('ldmc.data.ImageFolder', { root: dir('empty') }));
    expect(e.file).to.equal(join(tmp, 'empty'));
    expect(e.message).to.match(/no PNG or JPEG images/);
  });
});

describe('data: loader', function () {
  this.timeout(20000);
  let folder: string;
  before(async () => {
    folder = dir('loader');
    for (let i = 0; i < 10; i++) writeFileSync(join(folder, `${String(i).padStart(2, '0')}.png`), await png(pattern(8 + (i % 3), 8, i * 7)));
  });
  const make = () => createDataset('ldmc.data.ImageFolder', { root: folder, size: 6, random_crop: true, flip_p: 0.5 });

  it('yields NHWC batches with labels, last batch short unless drop_last', async () => {
    const bs = await collect(new DataLoader(make(), { batchSize: 4 }));
    expect(bs.map((b) => b.shape)).to.deep.equal([[4, 6, 6, 3], [4, 6, 6, 3], [2, 6, 6, 3]]);
    expect([...bs[2]!.index]).to.deep.equal([8, 9]);
    expect(bs[0]!.text.file_path_![0]).to.equal(join(folder, '00.png'));
    const dl = new DataLoader(make(), { batchSize: 4, dropLast: true, epochs: 2 });
    expect((await collect(dl)).map((b) => `${b.epoch}.${b.step}`)).to.deep.equal(['0.0', '0.1', '1.0', '1.1']);
  });

  it('same batches with 0 and 2 workers under a seed; another seed differs', async () => {
    const opts = { batchSize: 3, shuffle: true, seed: 42, epochs: 2 };
    const a = await collect(new DataLoader(make(), { ...opts, numWorkers: 0 }));
    const b = await collect(new DataLoader(make(), { ...opts, numWorkers: 2 }));
    expect(a.length).to.equal(8);
    expect(b.map((x) => [...x.index])).to.deep.equal(a.map((x) => [...x.index]));
    for (let k = 0; k < a.length; k++) expect(Buffer.from(b[k]!.image.buffer).equals(Buffer.from(a[k]!.image.buffer))).to.equal(true);
    const epochOrder = (e: number) => a.filter((x) => x.epoch === e).flatMap((x) => [...x.index]);
    expect(epochOrder(0)).to.not.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...epochOrder(0)].sort((x, y) => x - y)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(epochOrder(1)).to.not.deep.equal(epochOrder(0));
    const c = await collect(new DataLoader(make(), { ...opts, seed: 43 }));
    expect(c.map((x) => [...x.index])).to.not.deep.equal(a.map((x) => [...x.index]));
  });

  (haveFmnist ? it : it.skip)('Fashion-MNIST: same batches with 0 and 2 workers; breaking out closes the pool', async () => {
    const ds = createDataset('ldmc.data.FashionMNIST', { split: 'test', flip_p: 0.5 });
    const first = async (numWorkers: number) => {
      const out: Batch[] = [];
      const dl = new DataLoader(ds, { batchSize: 64, shuffle: true, seed: 7, numWorkers });
      for await (const b of dl) {
        out.push(b);
        expect(dl.liveWorkers).to.equal(numWorkers);
        if (out.length === 5) break;
      }
      expect(dl.liveWorkers).to.equal(0);
      return out;
    };
    const a = await first(0), b = await first(2);
    expect(b.map((x) => [...x.class_label!])).to.deep.equal(a.map((x) => [...x.class_label!]));
    for (let k = 0; k < a.length; k++) expect(Buffer.from(b[k]!.image.buffer).equals(Buffer.from(a[k]!.image.buffer))).to.equal(true);
    expect(a[0]!.shape).to.deep.equal([64, 32, 32, 1]);
  });

  it('a corrupt file in a worker is a DataError naming it, and the pool goes away', async function () {
    this.timeout(5000); // an error, never a hang
    const d = dir('loader-bad');
    for (let i = 0; i < 6; i++) writeFileSync(join(d, `${i}.png`), await png(pattern(4, 4, i)));
    writeFileSync(join(d, '4.png'), 'garbage');
    const dl = new DataLoader(createDataset('ldmc.data.ImageFolder', { root: d }), { batchSize: 2, numWorkers: 2 });
    const e = await rejection(collect(dl));
    expect(e.file).to.equal(join(d, '4.png'));
  });

  it('images of different sizes without `size` are an error naming the file (workers and in-process)', async function () {
    this.timeout(5000); // an error, never a hang
    const d = dir('loader-mixed');
    writeFileSync(join(d, '0.png'), await png(pattern(4, 4)));
    writeFileSync(join(d, '1.png'), await png(pattern(5, 4)));
    for (const numWorkers of [0, 2]) {
      const e = await rejection(collect(new DataLoader(createDataset('ldmc.data.ImageFolder', { root: d }), { batchSize: 2, numWorkers })));
      expect(e.file).to.equal(join(d, '1.png'));
      expect(e.hint).to.match(/set the dataset's size/);
    }
  });

  it('a dataset the workers cannot rebuild fails fast; an empty dataset is an error', async function () {
    this.timeout(5000); // an error, never a hang
    const d = dir('loader-gone');
    writeFileSync(join(d, '0.png'), await png(pattern(4, 4)));
    const ds = createDataset('ldmc.data.ImageFolder', { root: d });
    unlinkSync(join(d, '0.png'));
    const e = await rejection(collect(new DataLoader(ds, { batchSize: 1, numWorkers: 2 })));
    expect(e.file).to.equal(d);
    const empty: Dataset = { length: 0, name: 'empty', get: () => Promise.reject(new Error('unreachable')) };
    expect((await rejection(collect(new DataLoader(empty, { batchSize: 2 })))).message).to.match(/empty/);
    const small = new DataLoader(make(), { batchSize: 64, dropLast: true });
    expect((await rejection(collect(small))).message).to.match(/fewer than batch_size 64/);
  });

  it('DataModule: splits, shuffle rules, wrap, num_workers', async () => {
    const dm = new DataModule({
      batch_size: 4,
      num_workers: 0,
      wrap: true,
      train: { target: 'ldmc.data.ImageFolder', params: { root: folder, size: 6 } },
      validation: { target: 'ldmc.data.ImageFolder', params: { root: folder, size: 6 } },
    }).setup();
    expect(dm.trainDataloader().shuffle).to.equal(true);
    expect(dm.valDataloader().shuffle).to.equal(false);
    expect(() => dm.testDataloader()).to.throw(DataError, /no test dataset/);
    expect((await collect(dm.valDataloader())).length).to.equal(3);
    const dflt = new DataModule({ batch_size: 2, train: { target: 'ldmc.data.ImageFolder', params: { root: folder } } });
    expect(dflt.numWorkers).to.equal(Math.min(4, Math.max(1, os.availableParallelism() - 1)));
  });
});
