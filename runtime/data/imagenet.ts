// ldm/data/imagenet.py ImageNetTrain / ImageNetValidation, simplified: no download or tar
// extraction; the images must already be in synset folders,
//   <root>/ILSVRC2012_train/data/<synset>/*.JPEG   (the reference's prepared layout), or
//   <root>/train/<synset>/*.JPEG                   (and val/ or validation/ for the validation split),
// with <root> = data_root, or <data root>/imagenet. class_label is the index of the synset in sorted
// order (np.unique), human_label comes from synset_human.txt ("n01440764 tench, Tinca tinca") when
// it exists (else the synset). Items are taming ImagePaths: rescale + center/random crop to `size`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DatasetSpec } from './dataset.js';
import { DataError } from './errors.js';
import { ImagePaths } from './image-paths.js';

export interface ImageNetConfig {
  size?: number;
  random_crop?: boolean;
  subset?: string;
  [key: string]: unknown;
}

export interface ImageNetParams {
  config?: ImageNetConfig | null;
  process_images?: boolean;
  data_root?: string | null;
}

export type ImageNetSplit = 'ImageNetTrain' | 'ImageNetValidation';

const layouts: Record<ImageNetSplit, { name: string; dirs: string[]; randomCrop: boolean }> = {
  ImageNetTrain: { name: 'ILSVRC2012_train', dirs: ['train'], randomCrop: true },
  ImageNetValidation: { name: 'ILSVRC2012_validation', dirs: ['val', 'validation'], randomCrop: false },
};

const ignored = new Set(['n06596364_9591.JPEG']);
const imageRe = /\.(jpe?g|png)$/i;

export class ImageNetDataset extends ImagePaths {
  constructor(split: ImageNetSplit, params: ImageNetParams, dataRoot = 'data', spec?: DatasetSpec) {
    const target = `ldm.data.imagenet.${split}`;
    const config = params.config ?? {};
    if (params.process_images === false) {
      throw new DataError(`${target}: process_images: false (file paths instead of images) is not supported by ldmc's loader`, null, 'remove process_images');
    }
    for (const k of ['sub_indices', 'keep_orig_class_label']) {
      if (config[k] !== undefined && config[k] !== false) throw new DataError(`${target}: config.${k} is not supported by ldmc's simplified ImageNet loader`, null, `remove config.${k}`);
    }
    const layout = layouts[split];
    const base = params.data_root ?? join(dataRoot, 'imagenet');
    const candidates = [join(base, layout.name, 'data'), ...layout.dirs.map((d) => join(base, d))];
    const dir = candidates.find((d) => existsSync(d) && statSync(d).isDirectory());
    if (!dir) {
      throw new DataError(`no ImageNet ${split === 'ImageNetTrain' ? 'training' : 'validation'} folder`, candidates[0]!, `put the synset folders in one of ${candidates.join(', ')} (set data_root, or the data root with --data DIR)`);
    }
    const relpaths: string[] = [];
    for (const syn of readdirSync(dir).sort()) {
      const sdir = join(dir, syn);
      if (!statSync(sdir).isDirectory()) continue;
      for (const f of readdirSync(sdir).sort()) if (imageRe.test(f) && !ignored.has(f)) relpaths.push(`${syn}/${f}`);
    }
    relpaths.sort();
    if (relpaths.length === 0) throw new DataError('no images in synset folders (<synset>/*.JPEG)', dir, 'check the ImageNet layout');
    const synsets = relpaths.map((p) => p.split('/')[0]!);
    const classOf = new Map([...new Set(synsets)].sort().map((s, i) => [s, i] as const));
    const human = readSynsetHuman([join(base, layout.name, 'synset_human.txt'), join(base, 'synset_human.txt')]);
    const nested = config[split] as { random_crop?: boolean } | undefined;
    super({
      name: target,
      paths: relpaths.map((r) => join(dir, r)),
      relpaths,
      size: config.size ?? 256,
      randomCrop: nested?.random_crop ?? config.random_crop ?? layout.randomCrop,
      classLabels: synsets.map((s) => classOf.get(s)!),
      humanLabels: synsets.map((s) => human.get(s) ?? s),
      synsets,
      ...(spec ? { spec } : {}),
    });
  }
}

/** synset_human.txt: "<synset> <human label>" per line; an empty map when no file exists. */
function readSynsetHuman(files: string[]): Map<string, string> {
  const m = new Map<string, string>();
  const file = files.find((f) => existsSync(f));
  if (!file) return m;
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const t = line.trim();
    if (!t) continue;
    const sp = t.search(/\s/);
    if (sp > 0) m.set(t.slice(0, sp), t.slice(sp).trim());
  }
  return m;
}
