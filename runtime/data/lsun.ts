// ldm/data/lsun.py: LSUNBase reads `txt_file` (relative paths) under `data_root`; each item is
// center-cropped to a square, resized to size×size with `interpolation`, flipped with flip_p.
// The subclasses fix txt_file/data_root (relative to the data root, `data/` in the reference).
import { join } from 'node:path';
import { checkIndex, type Dataset, type DatasetSpec, type Example, type GetOptions } from './dataset.js';
import { readListFile } from './image-paths.js';
import { lsunPreprocess, makeRng, readImage, toFloat, type Interpolation } from './transforms.js';

export interface LSUNBaseParams {
  txt_file: string;
  data_root: string;
  size?: number | null;
  interpolation?: 'linear' | 'bilinear' | 'bicubic' | 'lanczos';
  flip_p?: number;
}

export class LSUNBase implements Dataset {
  readonly name: string;
  readonly spec?: DatasetSpec;
  readonly relpaths: readonly string[];
  readonly size: number | null;
  readonly interpolation: Interpolation;
  readonly flipP: number;

  constructor(readonly params: LSUNBaseParams, name = 'ldm.data.lsun.LSUNBase', spec?: DatasetSpec) {
    this.name = name;
    if (spec) this.spec = spec;
    this.relpaths = readListFile(params.txt_file, `${name} reads its list from ${params.txt_file} (set the data root with --data DIR)`);
    this.size = params.size ?? null;
    this.interpolation = params.interpolation ?? 'bicubic';
    this.flipP = params.flip_p ?? 0.5;
  }

  get length(): number {
    return this.relpaths.length;
  }

  async get(i: number, opts: GetOptions = {}): Promise<Example> {
    checkIndex(this, i);
    const rel = this.relpaths[i]!, file = join(this.params.data_root, rel);
    const img = await lsunPreprocess(await readImage(file, this.params.txt_file), this.size, this.interpolation, this.flipP, makeRng(opts.seed ?? i));
    return { ...toFloat(img), relative_file_path_: rel, file_path_: file };
  }
}

/** The subclasses of lsun.py: list file and image folder under the data root, and the default flip_p. */
export const lsunLayouts = {
  LSUNChurchesTrain: { txt: 'lsun/church_outdoor_train.txt', root: 'lsun/churches', flip: 0.5 },
  LSUNChurchesValidation: { txt: 'lsun/church_outdoor_val.txt', root: 'lsun/churches', flip: 0.0 },
  LSUNBedroomsTrain: { txt: 'lsun/bedrooms_train.txt', root: 'lsun/bedrooms', flip: 0.5 },
  LSUNBedroomsValidation: { txt: 'lsun/bedrooms_val.txt', root: 'lsun/bedrooms', flip: 0.0 },
  LSUNCatsTrain: { txt: 'lsun/cat_train.txt', root: 'lsun/cats', flip: 0.5 },
  LSUNCatsValidation: { txt: 'lsun/cat_val.txt', root: 'lsun/cats', flip: 0.0 },
} as const;
export type LSUNSplit = keyof typeof lsunLayouts;

export function lsunDataset(split: LSUNSplit, params: Omit<LSUNBaseParams, 'txt_file' | 'data_root'>, dataRoot = 'data', spec?: DatasetSpec): LSUNBase {
  const l = lsunLayouts[split];
  return new LSUNBase({ ...params, flip_p: params.flip_p ?? l.flip, txt_file: join(dataRoot, l.txt), data_root: join(dataRoot, l.root) }, `ldm.data.lsun.${split}`, spec);
}
