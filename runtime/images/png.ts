// PNG files through sharp (loaded on first use, so importing runtime/images costs nothing).
import { writeAtomic } from '../util/atomic.js';
import type { Uint8Image } from './grid.js';
import { withPngText } from './png-text.js';

type Channels = 1 | 2 | 3 | 4;

async function sharpModule(): Promise<typeof import('sharp')> {
  const m = (await import('sharp')) as unknown as { default: typeof import('sharp') };
  return m.default;
}

export interface PngOptions {
  /** Text chunks (keyword, text) written after the header, in order: tEXt, or iTXt for non-Latin-1 text. */
  readonly text?: Iterable<readonly [string, string]>;
}

/** Encodes an HWC 8-bit image as PNG bytes: 1 channel = grayscale, 2 = gray + alpha, 3 = RGB, 4 = RGBA. */
export async function encodePng(img: Uint8Image, opts: PngOptions = {}): Promise<Uint8Array> {
  const [height, width, channels] = img.shape;
  if (channels < 1 || channels > 4) throw new Error(`encodePng: ${channels} channels (PNG holds 1 to 4)`);
  if (img.data.length !== height * width * channels) throw new Error(`encodePng: ${img.data.length} bytes for shape [${img.shape.join(', ')}]`);
  const sharp = await sharpModule();
  const raw = { width, height, channels: channels as Channels };
  let s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw });
  // Without this, sharp stores a 1-channel raw image as 8-bit RGB.
  if (channels <= 2) s = s.toColourspace('b-w');
  const buf = await s.png({ compressionLevel: 9 }).toBuffer();
  const png = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return opts.text ? withPngText(png, opts.text) : png;
}

/** Writes a PNG atomically (a temporary file next to `path`, then a rename); creates the folder. */
export async function writePng(path: string, img: Uint8Image, opts: PngOptions = {}): Promise<void> {
  writeAtomic(path, await encodePng(img, opts));
}

/** Reads a PNG (or any image sharp reads) as HWC 8-bit pixels, keeping its channel count. */
export async function readPng(path: string | Uint8Array): Promise<Uint8Image> {
  const sharp = await sharpModule();
  const input = typeof path === 'string' ? path : Buffer.from(path);
  const meta = await sharp(input).metadata();
  let s = sharp(input);
  // sharp outputs sRGB unless told otherwise: keep a grayscale file grayscale.
  if ((meta.channels ?? 3) <= 2) s = s.toColourspace('b-w');
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), shape: [info.height, info.width, info.channels] };
}
