// taming-transformers' CelebA-HQ / FFHQ (taming/data/faceshq.py): a list file of relative paths
// under a root folder, fixed per class relative to the working directory (`data/celebahq` +
// `data/celebahqtrain.txt`, ...). Here `data/` is the data root (`--data DIR`). CelebA-HQ files are
// taming's `.npy` arrays (NumpyPaths) or PNG/JPEG; FFHQ files are images. Center crops, no flips.
import { join } from 'node:path';
import type { DatasetSpec } from './dataset.js';
import { ImagePaths, readListFile } from './image-paths.js';

export interface FacesParams {
  size: number;
  keys?: string[] | null;
}

export const facesLayouts = {
  CelebAHQTrain: { root: 'celebahq', list: 'celebahqtrain.txt' },
  CelebAHQValidation: { root: 'celebahq', list: 'celebahqvalidation.txt' },
  FFHQTrain: { root: 'ffhq', list: 'ffhqtrain.txt' },
  FFHQValidation: { root: 'ffhq', list: 'ffhqvalidation.txt' },
} as const;
export type FacesSplit = keyof typeof facesLayouts;

/** CelebAHQTrain & co: `<dataRoot>/<list>` names files under `<dataRoot>/<root>`. */
export class FacesDataset extends ImagePaths {
  constructor(split: FacesSplit, params: FacesParams, dataRoot = 'data', spec?: DatasetSpec) {
    const layout = facesLayouts[split];
    const root = join(dataRoot, layout.root), list = join(dataRoot, layout.list);
    const relpaths = readListFile(list, `taming's ${split} reads ${layout.list} and ${layout.root}/ under the data root (default ./data; set it with --data DIR)`);
    super({
      name: `taming.data.faceshq.${split}`,
      paths: relpaths.map((r) => join(root, r)),
      size: params.size,
      randomCrop: false,
      listFile: list,
      keys: params.keys ?? null,
      ...(spec ? { spec } : {}),
    });
  }
}
