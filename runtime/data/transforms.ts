// The reference's image transforms, deterministic under a seed:
//   - taming's ImagePaths: SmallestMaxSize(size) then CenterCrop/RandomCrop(size) (albumentations);
//   - ldm/data/lsun.py: center crop to a square, resize to size×size (PIL filter), RandomHorizontalFlip;
//   - scaling `image / 127.5 - 1` to float32 in [-1, 1].
// Images are HWC uint8 (`RawImage`) until `toFloat`. Decoding and resizing use sharp (libvips),
// loaded lazily so that IDX-only workers never load it.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Sharp, SharpOptions } from 'sharp';
import { DataError } from './errors.js';

/** An HWC uint8 image. */
export interface RawImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

export type Interpolation = 'nearest' | 'linear' | 'bilinear' | 'bicubic' | 'lanczos';

// ------------------------------------------------------------------------------- seeded randomness

/** Mixes integers into one 32-bit seed (murmur3's finalizer per word); order matters. */
export function mixSeed(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A uniform [0, 1) generator (mulberry32) seeded by a 32-bit integer. */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rng = makeRng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

// ------------------------------------------------------------------------------------ decoding

type SharpFactory = (input?: Buffer | Uint8Array, options?: SharpOptions) => Sharp;
let sharpModule: Promise<SharpFactory> | undefined;

/** sharp, imported on first use. */
export function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => (m.default ?? m) as unknown as SharpFactory);
  return sharpModule;
}

/** Whether a file name is a PNG or JPEG by its extension (any case). */
export function isImageFile(name: string): boolean {
  const ext = extname(name).toLowerCase();
  return ext === '.png' || ext === '.jpg' || ext === '.jpeg';
}

/**
 * Reads a PNG or JPEG (any mode: grey, palette, alpha, CMYK, 16 bit) as RGB uint8 like PIL's
 * `convert("RGB")` (alpha dropped, not composited), or a taming `.npy` (uint8 1×3×H×W, 3×H×W or
 * H×W×3). `listedIn` names the list file that named it, for the message when it is missing.
 */
export async function readImage(file: string, listedIn?: string): Promise<RawImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new DataError(
        listedIn ? `image listed in ${listedIn} does not exist` : 'image does not exist',
        file,
        listedIn ? `fix the list file or the data root (--data DIR)` : null,
      );
    }
    throw new DataError(`cannot read image: ${(e as Error).message}`, file);
  }
  if (extname(file).toLowerCase() === '.npy') return parseNpyImage(bytes, file);
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(bytes)
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (e) {
    throw new DataError(`cannot decode image (${(e as Error).message.split('\n')[0]})`, file, 'the file is corrupt or not a PNG/JPEG: re-create it or remove it from the dataset');
  }
}

/** Parses a uint8 .npy image (taming's CelebA-HQ files) into HWC. */
export function parseNpyImage(bytes: Uint8Array, file: string): RawImage {
  const bad = (why: string) => new DataError(`not a uint8 image .npy file: ${why}`, file);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) throw bad('bad magic');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = Buffer.from(bytes.subarray(start, start + headerLen)).toString('latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !['|u1', 'u1', '<u1', '>u1'].includes(descr)) throw bad(`dtype ${descr ?? '?'}`);
  if (fortran !== 'False') throw bad('fortran order');
  if (shapeText === undefined) throw bad('no shape');
  let shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  while (shape.length > 3 && shape[0] === 1) shape = shape.slice(1);
  const offset = start + headerLen;
  const n = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - offset < n) throw new DataError(`truncated .npy: ${bytes.length - offset} data bytes for shape (${shape.join(', ')})`, file);
  const src = bytes.subarray(offset, offset + n);
  if (shape.length === 3 && shape[2] === 3) return { data: new Uint8Array(src), width: shape[1]!, height: shape[0]!, channels: 3 };
  if (shape.length === 3 && shape[0] === 3) {
    const [, h, w] = shape as [number, number, number];
    const out = new Uint8Array(n);
    for (let c = 0; c < 3; c++) for (let p = 0; p < h * w; p++) out[p * 3 + c] = src[c * h * w + p]!;
    return { data: out, width: w, height: h, channels: 3 };
  }
  throw bad(`shape (${shape.join(', ')}) is not 3×H×W or H×W×3`);
}

// ----------------------------------------------------------------------------------- geometry

const kernels = { nearest: 'nearest', linear: 'linear', bilinear: 'linear', bicubic: 'cubic', lanczos: 'lanczos3' } as const;

/** Resizes to exactly width×height with sharp's kernel for `interp` (PIL LINEAR/BICUBIC/LANCZOS). */
export async function resize(img: RawImage, width: number, height: number, interp: Interpolation): Promise<RawImage> {
  if (img.width === width && img.height === height) return img;
  const sharp = await loadSharp();
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } })
    .resize(width, height, { kernel: kernels[interp], fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== img.channels) throw new Error(`resize changed channels ${img.channels} → ${info.channels}`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: img.channels };
}

/** Python 3's round (half to even), as albumentations' py3round. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(r - x) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** albumentations SmallestMaxSize: scales so that the shorter side is `size` (default filter: bilinear). */
export function resizeShortest(img: RawImage, size: number, interp: Interpolation = 'bilinear'): Promise<RawImage> {
  const scale = size / Math.min(img.width, img.height);
  if (scale === 1) return Promise.resolve(img);
  return resize(img, roundHalfEven(img.width * scale), roundHalfEven(img.height * scale), interp);
}

/** Crops a w×h window at (left, top). */
export function crop(img: RawImage, left: number, top: number, width: number, height: number): RawImage {
  if (left < 0 || top < 0 || left + width > img.width || top + height > img.height) {
    throw new RangeError(`crop ${width}×${height}+${left}+${top} outside a ${img.width}×${img.height} image`);
  }
  if (left === 0 && top === 0 && width === img.width && height === img.height) return img;
  const c = img.channels;
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * c;
    out.set(img.data.subarray(s, s + width * c), y * width * c);
  }
  return { data: out, width, height, channels: c };
}

/** albumentations CenterCrop: offsets (H - h) // 2, (W - w) // 2. */
export function centerCrop(img: RawImage, width: number, height = width): RawImage {
  return crop(img, (img.width - width) >> 1, (img.height - height) >> 1, width, height);
}

/** albumentations RandomCrop: top = int((H - h + 1) * u1), left = int((W - w + 1) * u2), u1 drawn first. */
export function randomCrop(img: RawImage, width: number, height: number, rng: () => number): RawImage {
  const top = Math.floor((img.height - height + 1) * rng());
  const left = Math.floor((img.width - width + 1) * rng());
  return crop(img, left, top, width, height);
}

/** The largest centered square, as lsun.py: img[(h-c)//2:(h+c)//2, (w-c)//2:(w+c)//2]. */
export function centerSquare(img: RawImage): RawImage {
  const c = Math.min(img.width, img.height);
  return crop(img, (img.width - c) >> 1, (img.height - c) >> 1, c, c);
}

/** Mirrors left–right. */
export function hflip(img: RawImage): RawImage {
  const { width: w, height: h, channels: c } = img;
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * c, d = (y * w + (w - 1 - x)) * c;
      for (let k = 0; k < c; k++) out[d + k] = img.data[s + k]!;
    }
  }
  return { data: out, width: w, height: h, channels: c };
}

/** torchvision RandomHorizontalFlip(p): flips when u < p (one draw, always taken). */
export function randomHflip(img: RawImage, p: number, rng: () => number): RawImage {
  return rng() < p ? hflip(img) : img;
}

/** Pads every side by `pad` pixels of `value`. */
export function padImage(img: RawImage, pad: number, value = 0): RawImage {
  const w = img.width + 2 * pad, h = img.height + 2 * pad, c = img.channels;
  const out = new Uint8Array(w * h * c).fill(value);
  for (let y = 0; y < img.height; y++) {
    out.set(img.data.subarray(y * img.width * c, (y + 1) * img.width * c), ((y + pad) * w + pad) * c);
  }
  return { data: out, width: w, height: h, channels: c };
}

/** Bilinear resize with half-pixel centers (PIL BILINEAR when upsampling), in JS: for tiny images. */
export function resizeBilinearSync(img: RawImage, width: number, height: number): RawImage {
  if (img.width === width && img.height === height) return img;
  const { width: sw, height: sh, channels: c, data } = img;
  const out = new Uint8Array(width * height * c);
  const sx = sw / width, sy = sh / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, sh - 1), wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, sw - 1), wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = data[(y0 * sw + x0) * c + k]!, b = data[(y0 * sw + x1) * c + k]!;
        const d = data[(y1 * sw + x0) * c + k]!, e = data[(y1 * sw + x1) * c + k]!;
        const v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
        out[(y * width + x) * c + k] = Math.round(v);
      }
    }
  }
  return { data: out, width, height, channels: c };
}

/** Repeats a 1-channel image into `channels` channels. */
export function repeatChannels(img: RawImage, channels: number): RawImage {
  if (img.channels === channels) return img;
  if (img.channels !== 1) throw new RangeError(`cannot repeat ${img.channels} channels into ${channels}`);
  const n = img.width * img.height;
  const out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) for (let k = 0; k < channels; k++) out[p * channels + k] = img.data[p]!;
  return { data: out, width: img.width, height: img.height, channels };
}

/** `image / 127.5 - 1` as float32: uint8 → [-1, 1]. */
export function toFloat(img: RawImage): { image: Float32Array; shape: [number, number, number] } {
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i]! / 127.5 - 1;
  return { image: out, shape: [img.height, img.width, img.channels] };
}

// --------------------------------------------------------------------------------- pipelines

/** taming ImagePaths.preprocess_image: SmallestMaxSize(size) → CenterCrop or RandomCrop(size); none when size is null. */
export async function tamingPreprocess(img: RawImage, size: number | null, randomCropOn: boolean, rng: () => number, interp: Interpolation = 'bilinear'): Promise<RawImage> {
  if (size === null || size <= 0) return img;
  const scaled = await resizeShortest(img, size, interp);
  return randomCropOn ? randomCrop(scaled, size, size, rng) : centerCrop(scaled, size, size);
}

/** lsun.py LSUNBase.__getitem__: center square → resize size×size → flip with probability flip_p. */
export async function lsunPreprocess(img: RawImage, size: number | null, interp: Interpolation, flipP: number, rng: () => number): Promise<RawImage> {
  let out = centerSquare(img);
  if (size !== null) out = await resize(out, size, size, interp);
  return randomHflip(out, flipP, rng);
}
