// Sample tensors → 8-bit images → one grid image, as torchvision's `make_grid` lays them out
// (the reference's ImageLogger and sampling scripts save grids this way).
import type { Tensor4D } from '@tensorflow/tfjs-core';

/** A batch of 8-bit images, NHWC. */
export interface Uint8Images {
  readonly data: Uint8Array;
  /** [N, H, W, C] */
  readonly shape: readonly [number, number, number, number];
}

/** One 8-bit image, HWC (what a PNG holds). */
export interface Uint8Image {
  readonly data: Uint8Array;
  /** [H, W, C] */
  readonly shape: readonly [number, number, number];
}

export interface ToUint8Options {
  /**
   * 'half-up' (default): torchvision's save_image, `mul(255).add_(0.5).clamp_(0, 255)`.
   * 'down': the reference's txt2img.py, `255. * clamp((x + 1)/2, 0, 1)` then `astype(np.uint8)`,
   * which truncates (in float32, as torch and numpy compute it).
   */
  readonly rounding?: 'half-up' | 'down';
}

/**
 * Model output in [-1, 1] (NHWC) → bytes: clamp to [-1, 1], map to (x + 1)/2·255 and round as
 * `rounding` says (default half up). NaN becomes 0.
 */
export function toUint8Images(x: Tensor4D, opts: ToUint8Options = {}): Uint8Images {
  const src = x.dataSync() as Float32Array;
  const data = new Uint8Array(src.length);
  const down = opts.rounding === 'down';
  const f32 = Math.fround;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (!(v === v)) continue; // NaN → 0
    if (down) {
      const u = f32(f32(v + 1) / 2);
      data[i] = Math.floor(f32(255 * (u < 0 ? 0 : u > 1 ? 1 : u)));
      continue;
    }
    const c = v < -1 ? -1 : v > 1 ? 1 : v;
    data[i] = Math.floor(((c + 1) / 2) * 255 + 0.5);
  }
  const [n, h, w, ch] = x.shape;
  return { data, shape: [n, h, w, ch] };
}

export interface GridOptions {
  /** Images per row (torchvision's `nrow`); default 8. The last row may be short. */
  nrow?: number;
  /** Pixels between images and around the grid (default 2). */
  padding?: number;
  /** Value of the padding pixels, 0–255 in every channel (default 0, black, as torchvision). */
  padValue?: number;
  /**
   * Replicate a 1-channel batch to RGB, as torchvision's make_grid does. Default false: a
   * 1-channel batch gives a 1-channel grid (a grayscale PNG, which looks the same and is smaller).
   */
  rgb?: boolean;
}

/**
 * torchvision.utils.make_grid on 8-bit NHWC images: min(nrow, N) columns, ceil(N / columns) rows,
 * every cell (H + padding) × (W + padding), image k at row ⌊k / columns⌋, column k mod columns,
 * offset by `padding`; the grid is (rows·(H + p) + p) × (columns·(W + p) + p).
 * A single image is returned as it is (no padding), as make_grid does.
 */
export function makeGrid(images: Uint8Images, opts: GridOptions = {}): Uint8Image {
  const [n, h, w, c0] = images.shape;
  if (n < 1) throw new Error('makeGrid: no images');
  if (images.data.length !== n * h * w * c0) throw new Error(`makeGrid: ${images.data.length} bytes for shape [${images.shape.join(', ')}]`);
  const nrow = opts.nrow ?? 8, padding = opts.padding ?? 2, padValue = opts.padValue ?? 0;
  if (!Number.isInteger(nrow) || nrow < 1) throw new Error(`makeGrid: nrow must be a positive integer, got ${nrow}`);
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`makeGrid: padding must be a non-negative integer, got ${padding}`);
  if (!(padValue >= 0 && padValue <= 255)) throw new Error(`makeGrid: padValue must be in [0, 255], got ${padValue}`);
  const rgb = (opts.rgb ?? false) && c0 === 1;
  const c = rgb ? 3 : c0;
  const src = (k: number, y: number, x: number, ch: number) => images.data[((k * h + y) * w + x) * c0 + (rgb ? 0 : ch)]!;
  if (n === 1) {
    const out = new Uint8Array(h * w * c);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = src(0, y, x, ch);
    return { data: out, shape: [h, w, c] };
  }
  const xmaps = Math.min(nrow, n), ymaps = Math.ceil(n / xmaps);
  const cellH = h + padding, cellW = w + padding;
  const H = ymaps * cellH + padding, W = xmaps * cellW + padding;
  const out = new Uint8Array(H * W * c).fill(Math.round(padValue));
  for (let k = 0; k < n; k++) {
    const top = Math.floor(k / xmaps) * cellH + padding, left = (k % xmaps) * cellW + padding;
    for (let y = 0; y < h; y++) {
      const row = ((top + y) * W + left) * c;
      for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[row + x * c + ch] = src(k, y, x, ch);
    }
  }
  return { data: out, shape: [H, W, c] };
}
