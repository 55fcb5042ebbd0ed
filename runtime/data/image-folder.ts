// A folder of PNG/JPEG images, found recursively and sorted by relative path, processed like
// taming's ImagePaths (rescale the shorter side to `size`, center or random crop, optional flip).
// With class_folders, the first path component is the class (torchvision ImageFolder's rule:
// class_label = index among the sorted folder names).
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { DatasetSpec } from './dataset.js';
import { DataError } from './errors.js';
import { ImagePaths } from './image-paths.js';
import { isImageFile, type Interpolation } from './transforms.js';

export interface ImageFolderParams {
  /** The folder (relative paths resolve against the working directory); the registry defaults it to the data root. */
  root: string;
  /** Output side; null keeps each image's size (then all must match to be batched). */
  size?: number | null;
  interpolation?: Interpolation;
  random_crop?: boolean;
  flip_p?: number;
  class_folders?: boolean;
}

/** All PNG/JPEG files under `root`, as sorted '/'-separated relative paths. */
export function listImages(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new DataError(code === 'ENOENT' ? 'image folder does not exist' : `cannot list folder: ${(e as Error).message}`, dir);
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if ((e.isFile() || e.isSymbolicLink()) && isImageFile(e.name)) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

export class ImageFolder extends ImagePaths {
  constructor(params: ImageFolderParams, spec?: DatasetSpec) {
    const relpaths = listImages(params.root);
    if (relpaths.length === 0) throw new DataError('no PNG or JPEG images in this folder (searched recursively)', params.root, 'point root (or --data) at a folder of .png/.jpg files');
    let classLabels: number[] | undefined, humanLabels: string[] | undefined;
    if (params.class_folders) {
      const flat = relpaths.find((r) => !r.includes('/'));
      if (flat) throw new DataError('class_folders: true but this image is not in a class folder', join(params.root, flat), 'put every image in <root>/<class>/');
      humanLabels = relpaths.map((r) => r.split('/')[0]!);
      const classOf = new Map([...new Set(humanLabels)].sort().map((c, i) => [c, i] as const));
      classLabels = humanLabels.map((c) => classOf.get(c)!);
    }
    super({
      name: 'ldmc.data.ImageFolder',
      paths: relpaths.map((r) => join(params.root, r)),
      relpaths,
      size: params.size ?? null,
      randomCrop: params.random_crop ?? false,
      interpolation: params.interpolation ?? 'bicubic',
      flipP: params.flip_p ?? 0,
      ...(classLabels ? { classLabels } : {}),
      ...(humanLabels ? { humanLabels } : {}),
      ...(spec ? { spec } : {}),
    });
  }
}
