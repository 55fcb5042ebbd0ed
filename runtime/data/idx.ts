// IDX files (LeCun's MNIST format, also Fashion-MNIST): magic 0x00 0x00 <type> <ndims>, then ndims
// big-endian uint32 sizes, then the data, big-endian, row-major. Files may be gzip'd (.gz).
// Datasets ldmc.data.FashionMNIST and ldmc.data.MNIST yield 28×28 images with class labels.
//
// Size: `size` > 28 pads with black (as DDPM-style code pads MNIST to 32: 2 px each side) when
// `resize: pad` (the default), which keeps the pixels exact; `resize: bilinear` rescales instead
// (any size, half-pixel bilinear). size 28 leaves the images as they are.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { checkIndex, type Dataset, type DatasetSpec, type Example, type GetOptions } from './dataset.js';
import { DataError } from './errors.js';
import { makeRng, padImage, randomHflip, repeatChannels, resizeBilinearSync, toFloat, type RawImage } from './transforms.js';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  readonly dtype: IdxType;
  readonly dims: readonly number[];
  readonly data: IdxData;
}

const types: Record<number, { dtype: IdxType; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

/** Parses IDX bytes (not gzip'd). `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  const hint = 'is this an IDX file (e.g. train-images-idx3-ubyte[.gz])? Re-download it';
  if (bytes.length < 4) throw new DataError(`truncated IDX: ${bytes.length} bytes, no header`, file, hint);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = types[bytes[2]!], ndims = bytes[3]!;
  if (bytes[0] !== 0 || bytes[1] !== 0 || !type || ndims === 0) {
    throw new DataError(`bad IDX magic 0x${magic.toString(16).padStart(8, '0')} (expected 0x000008NN for uint8 data with NN dimensions)`, file, hint);
  }
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) throw new DataError(`truncated IDX: header needs ${headerLen} bytes, file has ${bytes.length}`, file, hint);
  const dims: number[] = [];
  for (let k = 0; k < ndims; k++) dims.push(view.getUint32(4 + 4 * k, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const want = headerLen + count * type.bytes;
  if (bytes.length !== want) {
    throw new DataError(
      `${bytes.length < want ? 'truncated' : 'oversized'} IDX: dims ${dims.join('×')} of ${type.dtype} need ${want} bytes, file has ${bytes.length}`,
      file,
      bytes.length < want ? 'the download was cut short: fetch the file again' : hint,
    );
  }
  const off = headerLen;
  let data: IdxData;
  switch (type.dtype) {
    case 'uint8':
      data = bytes.subarray(off, want);
      break;
    case 'int8':
      data = new Int8Array(bytes.buffer, bytes.byteOffset + off, count);
      break;
    default: {
      const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type.dtype];
      const arr = new Ctor(count);
      for (let i = 0; i < count; i++) {
        const p = off + i * type.bytes;
        arr[i] =
          type.dtype === 'int16' ? view.getInt16(p, false)
          : type.dtype === 'int32' ? view.getInt32(p, false)
          : type.dtype === 'float32' ? view.getFloat32(p, false)
          : view.getFloat64(p, false);
      }
      data = arr;
    }
  }
  return { dtype: type.dtype, dims, data };
}

const cache = new Map<string, IdxArray>();

/** Reads an IDX file, gunzipping it when it starts with the gzip magic (cached per path). */
export function readIdx(file: string): IdxArray {
  const hit = cache.get(file);
  if (hit) return hit;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? 'IDX file does not exist' : `cannot read IDX file: ${(e as Error).message}`, file);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new DataError(`corrupt gzip data (${(e as Error).message})`, file, 'the download was cut short or damaged: fetch the file again');
    }
  }
  const arr = parseIdx(bytes, file);
  cache.set(file, arr);
  return arr;
}

// ------------------------------------------------------------------------------------ datasets

export interface MnistParams {
  /** Folder of the four IDX files (gzip'd or not). */
  root?: string;
  split?: 'train' | 'test';
  /** Output side (≥ 1); default 32. */
  size?: number;
  /** 1 (grey) or 3 (the grey value repeated). */
  channels?: 1 | 3;
  /** How 28 becomes `size`: pad with black (default; size - 28 must be even and ≥ 0) or bilinear. */
  resize?: 'pad' | 'bilinear';
  /** Probability of a horizontal flip (default 0). */
  flip_p?: number;
}

export const fashionMnistClasses = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
export const debianFashionMnistRoot = '/usr/share/datasets/fashion-mnist';

export type MnistKind = 'FashionMNIST' | 'MNIST';

export class MnistDataset implements Dataset {
  readonly name: string;
  readonly spec?: DatasetSpec;
  readonly images: IdxArray;
  readonly labels: IdxArray;
  readonly imagesFile: string;
  readonly labelsFile: string;
  readonly size: number;
  readonly channels: 1 | 3;
  readonly mode: 'pad' | 'bilinear';
  readonly flipP: number;
  private readonly h: number;
  private readonly w: number;

  constructor(readonly kind: MnistKind, params: MnistParams = {}, dataRoot = 'data', spec?: DatasetSpec) {
    this.name = `ldmc.data.${kind}`;
    if (spec) this.spec = spec;
    const root = params.root ?? (kind === 'FashionMNIST' ? debianFashionMnistRoot : join(dataRoot, 'mnist'));
    const split = params.split ?? 'train';
    if (split !== 'train' && split !== 'test') throw new DataError(`${this.name}: split must be 'train' or 'test', got '${String(split)}'`);
    const prefix = split === 'train' ? 'train' : 't10k';
    const installHint = kind === 'FashionMNIST' ? `install Debian's dataset-fashion-mnist (scripts/install-datasets.sh) or set root` : `put the MNIST IDX files in ${root} or set root`;
    const find = (stem: string) => {
      const c = [join(root, `${stem}.gz`), join(root, stem)];
      const f = c.find((p) => existsSync(p));
      if (!f) throw new DataError(`${kind} ${split} file not found (also tried ${c[1]})`, c[0]!, installHint);
      return f;
    };
    this.imagesFile = find(`${prefix}-images-idx3-ubyte`);
    this.labelsFile = find(`${prefix}-labels-idx1-ubyte`);
    this.images = readIdx(this.imagesFile);
    this.labels = readIdx(this.labelsFile);
    if (this.images.dtype !== 'uint8' || this.images.dims.length !== 3) {
      throw new DataError(`expected uint8 images N×H×W, got ${this.images.dtype} ${this.images.dims.join('×')}`, this.imagesFile);
    }
    if (this.labels.dtype !== 'uint8' || this.labels.dims.length !== 1) {
      throw new DataError(`expected uint8 labels (N), got ${this.labels.dtype} ${this.labels.dims.join('×')}`, this.labelsFile);
    }
    if (this.labels.dims[0] !== this.images.dims[0]) {
      throw new DataError(`${this.labels.dims[0]} labels for ${this.images.dims[0]} images in ${this.imagesFile}`, this.labelsFile);
    }
    this.h = this.images.dims[1]!;
    this.w = this.images.dims[2]!;
    this.size = params.size ?? 32;
    this.channels = params.channels ?? 1;
    this.mode = params.resize ?? 'pad';
    this.flipP = params.flip_p ?? 0;
    if (!Number.isInteger(this.size) || this.size < 1) throw new DataError(`${this.name}: size must be a positive integer, got ${this.size}`);
    if (this.channels !== 1 && this.channels !== 3) throw new DataError(`${this.name}: channels must be 1 or 3, got ${String(this.channels)}`);
    if (this.mode === 'pad' && (this.h !== this.w || this.size < this.h || (this.size - this.h) % 2 !== 0)) {
      throw new DataError(`${this.name}: cannot pad ${this.h}×${this.w} images to ${this.size}×${this.size}`, null, `use an even margin (size 28, 32, 36, ...) or resize: bilinear`);
    }
  }

  get length(): number {
    return this.images.dims[0]!;
  }

  /** The raw 28×28 uint8 pixels of item i (a view). */
  pixels(i: number): Uint8Array {
    const n = this.h * this.w;
    return (this.images.data as Uint8Array).subarray(i * n, (i + 1) * n);
  }

  label(i: number): number {
    return this.labels.data[i]!;
  }

  get(i: number, opts: GetOptions = {}): Promise<Example> {
    try {
      return Promise.resolve(this.getSync(i, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  getSync(i: number, opts: GetOptions = {}): Example {
    checkIndex(this, i);
    let img: RawImage = { data: this.pixels(i), width: this.w, height: this.h, channels: 1 };
    if (this.size !== this.h || this.size !== this.w) {
      img = this.mode === 'pad' ? padImage(img, (this.size - this.h) / 2, 0) : resizeBilinearSync(img, this.size, this.size);
    }
    if (this.flipP > 0) img = randomHflip(img, this.flipP, makeRng(opts.seed ?? i));
    img = repeatChannels(img, this.channels);
    const label = this.label(i);
    return { ...toFloat(img), class_label: label, human_label: this.kind === 'FashionMNIST' ? (fashionMnistClasses[label] ?? String(label)) : String(label) };
  }
}
