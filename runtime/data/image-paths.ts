// taming's ImagePaths (taming/data/base.py): a list of image files plus per-item labels; each item
// is read as RGB, rescaled so its shorter side is `size`, cropped to size×size (center or random)
// and scaled to [-1, 1]. The faces, ImageNet and image-folder datasets are built on it.
import { readFileSync } from 'node:fs';
import { checkIndex, type Dataset, type DatasetSpec, type Example, type GetOptions } from './dataset.js';
import { DataError } from './errors.js';
import { makeRng, randomHflip, readImage, tamingPreprocess, toFloat, type Interpolation } from './transforms.js';

export interface ImagePathsOptions {
  /** Name for messages (the target id). */
  name: string;
  /** The image files, in item order. */
  paths: readonly string[];
  /** The same paths relative to the dataset root (`relative_file_path_`). */
  relpaths?: readonly string[];
  /** Side of the square output; null: native size, no crop. */
  size: number | null;
  randomCrop: boolean;
  /** Filter of the shortest-side rescale (albumentations' default: bilinear). */
  interpolation?: Interpolation;
  /** Probability of a horizontal flip after the crop (default 0). */
  flipP?: number;
  classLabels?: readonly number[];
  humanLabels?: readonly string[];
  synsets?: readonly string[];
  /** The list file the paths came from, named when one is missing. */
  listFile?: string;
  /** taming FacesBase `keys`: keep only these example keys (the image is always kept). */
  keys?: readonly string[] | null;
  spec?: DatasetSpec;
}

export class ImagePaths implements Dataset {
  readonly name: string;
  readonly spec?: DatasetSpec;
  constructor(readonly opts: ImagePathsOptions) {
    this.name = opts.name;
    if (opts.spec) this.spec = opts.spec;
  }

  get length(): number {
    return this.opts.paths.length;
  }

  async get(i: number, getOpts: GetOptions = {}): Promise<Example> {
    checkIndex(this, i);
    const o = this.opts;
    const file = o.paths[i]!;
    const rng = makeRng(getOpts.seed ?? i);
    let img = await readImage(file, o.listFile);
    img = await tamingPreprocess(img, o.size, o.randomCrop, rng, o.interpolation ?? 'bilinear');
    img = randomHflip(img, o.flipP ?? 0, rng);
    const ex: Example = { ...toFloat(img), file_path_: file };
    if (o.relpaths) ex.relative_file_path_ = o.relpaths[i]!;
    if (o.classLabels) ex.class_label = o.classLabels[i]!;
    if (o.humanLabels) ex.human_label = o.humanLabels[i]!;
    if (o.synsets) ex.synset = o.synsets[i]!;
    return o.keys ? filterKeys(ex, o.keys) : ex;
  }
}

/** Keeps `image`/`shape` and the listed keys. */
export function filterKeys(ex: Example, keys: readonly string[]): Example {
  const out: Example = { image: ex.image, shape: ex.shape };
  const src = ex as unknown as Record<string, unknown>, dst = out as unknown as Record<string, unknown>;
  for (const k of keys) if (k in src && k !== 'image' && k !== 'shape') dst[k] = src[k];
  return out;
}

/** Reads a list file (one relative path per line, as `f.read().splitlines()`; blank lines skipped). */
export function readListFile(file: string, hint: string | null = null): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? 'list file does not exist' : `cannot read list file: ${(e as Error).message}`, file, hint);
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) throw new DataError('list file names no images', file, hint);
  return lines;
}
