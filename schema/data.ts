// Data modules and datasets: main.py's DataModuleFromConfig and the dataset classes the reference
// configs name (ldm/data/*.py, taming/data/faceshq.py).
import { Type } from './type-builder.js';
import type { TObject } from '@sinclair/typebox';
import { bool, child, defineTarget, int, nullable, num, oneOf, opt, params, str, type Filled, type TargetSpec } from './types.js';

/**
 * The keys a collated batch can carry (runtime/data/batch.ts): NHWC images, int class labels and
 * per-item strings. Which of them a dataset yields is a static fact of its target (below).
 */
export const batchKeys = ['image', 'class_label', 'human_label', 'file_path_', 'relative_file_path_', 'synset'] as const;
export type BatchKey = (typeof batchKeys)[number];

/** What a loadable dataset's items are, from its validated params alone. */
export interface DatasetFacts {
  /** The batch keys every item has, `image` first. */
  readonly keys: readonly BatchKey[];
  /** [height, width, channels] of every image, or null when the params keep each image's own size. */
  readonly imageShape: readonly [number, number, number] | null;
}

/** A dataset target ldmc can load: its TargetSpec plus its batch facts. */
export interface DatasetTarget<P extends TObject = TObject> extends TargetSpec<P> {
  datasetFacts(p: Filled<P>): DatasetFacts;
}

function defineDataset<const I extends string, P extends TObject>(spec: DatasetTarget<P> & { readonly id: I }): DatasetTarget<P> & { readonly id: I } {
  return spec;
}

/** The batch facts of a dataset target with validated params; undefined for a target ldmc cannot load. */
export function datasetFacts(spec: TargetSpec, p: Readonly<Record<string, unknown>>): DatasetFacts | undefined {
  const d = spec as Partial<DatasetTarget>;
  return typeof d.datasetFacts === 'function' ? d.datasetFacts(p as never) : undefined;
}

const rgb = (side: number | null | undefined): DatasetFacts['imageShape'] => (side ? [side, side, 3] : null);

export const DataModuleFromConfigParams = params({
  batch_size: int('Batch size per device; also scales the learning rate (main.py).', { minimum: 1 }),
  train: opt(nullable(child(['dataset'], 'Training dataset.')), null),
  validation: opt(nullable(child(['dataset'], 'Validation dataset.')), null),
  test: opt(nullable(child(['dataset'], 'Test dataset.')), null),
  predict: opt(nullable(child(['dataset'], 'Prediction dataset.')), null),
  wrap: opt(bool('Wrap datasets in WrappedDataset.'), false),
  num_workers: opt(nullable(int('Loader workers (default: 2 × batch_size).', { minimum: 0 })), null),
  shuffle_test_loader: opt(bool('Shuffle the test loader.'), false),
  use_worker_init_fn: opt(bool('Seed workers with worker_init_fn.'), false),
  shuffle_val_dataloader: opt(bool('Shuffle the validation loader.'), false),
});
export type DataModuleFromConfigParams = Filled<typeof DataModuleFromConfigParams>;

export const DataModuleFromConfig = defineTarget({
  id: 'main.DataModuleFromConfig',
  aliases: [],
  families: ['data_module'],
  summary: 'Lightning data module that builds train/validation/test datasets from configs.',
  source: 'main.py:162',
  params: DataModuleFromConfigParams,
});

const size = (required: boolean) =>
  required ? int('Side of the square images the dataset yields.', { minimum: 1 }) : opt(nullable(int('Side of the square images the dataset yields (null: native size).', { minimum: 1 })), null);

// ---- taming-transformers CelebA-HQ / FFHQ: (size, keys=None)
const facesParams = params({
  size: size(true),
  keys: opt(nullable(Type.Array(Type.String(), { description: 'Extra keys to load.' })), null),
});
function faces(name: string, what: string): TargetSpec {
  return defineDataset({
    id: `taming.data.faceshq.${name}`,
    aliases: [`ldm.data.faceshq.${name}`],
    families: ['dataset'],
    summary: `${what} (taming-transformers layout: a list file plus images).`,
    source: 'taming/data/faceshq.py (taming-transformers)',
    note: 'ldm.data.faceshq does not exist in the reference repository; taming.data.faceshq is the real loader.',
    params: facesParams,
    // taming's ImagePaths gives file_path_; `keys` keeps only the listed ones.
    datasetFacts: (p) => ({ keys: ['image', ...(p.keys === null || p.keys.includes('file_path_') ? (['file_path_'] as const) : [])], imageShape: rgb(p.size) }),
  });
}

// ---- ImageNet: ldm/data/imagenet.py
const degradations = ['bsrgan', 'bsrgan_light', 'cv_nearest', 'cv_bilinear', 'cv_bicubic', 'cv_area', 'cv_lanczos', 'pil_nearest', 'pil_bilinear', 'pil_bicubic', 'pil_box', 'pil_hamming', 'pil_lanczos'] as const;
const srParams = {
  size: size(false),
  degradation: opt(nullable(oneOf(degradations, 'How the low-resolution input is made.')), null),
  downscale_f: opt(int('Downscaling factor of the low-resolution input.', { minimum: 1 }), 4),
  min_crop_f: opt(num('Smallest random crop, as a fraction of the image side.', { exclusiveMinimum: 0, maximum: 1 }), 0.5),
  max_crop_f: opt(num('Largest random crop, as a fraction of the image side.', { exclusiveMinimum: 0, maximum: 1 }), 1.0),
  random_crop: opt(bool('Random (true) or center (false) crops.'), true),
};
const imagenetSR = (name: string, line: number): TargetSpec =>
  defineTarget({
    id: `ldm.data.imagenet.${name}`,
    // Stability-AI/stablediffusion ships no ldm/data loaders but base.py and util.py.
    dialects: ['ldm', 'sd1'],
    aliases: [],
    families: ['dataset'],
    summary: 'ImageNet super-resolution pairs (image, LR_image).',
    source: `ldm/data/imagenet.py:${line}`,
    params: params(srParams),
  });

const imagenetConfig = Type.Object(
  {
    size: Type.Optional(Type.Integer({ minimum: 1, description: 'Image side.' })),
    random_crop: Type.Optional(Type.Boolean({ description: 'Random crops.' })),
    subset: Type.Optional(Type.String({ description: 'Subset name.' })),
  },
  { additionalProperties: true, description: 'Dataset options (ImageNetBase config).' },
);
const imagenet = (name: string, line: number): TargetSpec =>
  defineDataset({
    id: `ldm.data.imagenet.${name}`,
    // Stability-AI/stablediffusion ships no ldm/data loaders but base.py and util.py.
    dialects: ['ldm', 'sd1'],
    aliases: [],
    families: ['dataset'],
    summary: 'ImageNet class-folder layout with class labels.',
    source: `ldm/data/imagenet.py:${line}`,
    params: params({
      config: opt(nullable(imagenetConfig), null),
      process_images: opt(bool('Decode and resize images.'), true),
      data_root: opt(nullable(str('Root folder of the data.')), null),
    }),
    datasetFacts: (p) => ({ keys: ['image', 'class_label', 'human_label', 'file_path_', 'relative_file_path_', 'synset'], imageShape: rgb(p.config?.size ?? 256) }),
  });

// ---- LSUN: ldm/data/lsun.py; the subclasses fix txt_file and data_root.
const lsunFacts = (p: { size: number | null }): DatasetFacts => ({ keys: ['image', 'file_path_', 'relative_file_path_'], imageShape: rgb(p.size) });
const lsun = (name: string, line: number, flip: number): TargetSpec =>
  defineDataset({
    id: `ldm.data.lsun.${name}`,
    // Stability-AI/stablediffusion ships no ldm/data loaders but base.py and util.py.
    dialects: ['ldm', 'sd1'],
    aliases: [],
    families: ['dataset'],
    summary: 'LSUN scenes (file-list layout).',
    source: `ldm/data/lsun.py:${line}`,
    params: params({
      size: size(false),
      interpolation: opt(oneOf(['linear', 'bilinear', 'bicubic', 'lanczos'] as const, 'Resize filter.'), 'bicubic'),
      flip_p: opt(num('Probability of a horizontal flip.', { minimum: 0, maximum: 1 }), flip),
    }),
    datasetFacts: lsunFacts,
  });

// ---- datasets named by reference configs whose modules the reference repository does not ship.
const missing = (mod: string, name: string, props: Parameters<typeof params>[0]): TargetSpec =>
  defineTarget({
    id: `ldm.data.${mod}.${name}`,
    // Stability-AI/stablediffusion ships no ldm/data loaders but base.py and util.py.
    dialects: ['ldm', 'sd1'],
    aliases: [],
    families: ['dataset'],
    summary: `Dataset ${name} (module ldm.data.${mod}).`,
    source: `ldm/data/${mod.replace(/\./g, '/')}.py (not in the reference repository)`,
    note: `ldm.data.${mod} is not in the reference repository; params are those the reference configs set.`,
    params: params(props),
  });
const cropSize = opt(nullable(int('Crop side.', { minimum: 1 })), null);

// ---- ldmc's own: MNIST-format IDX files (Debian's dataset-fashion-mnist), with class labels.
const idx = (name: string, what: string, root: string | null): TargetSpec =>
  defineDataset({
    id: `ldmc.data.${name}`,
    aliases: [],
    families: ['dataset'],
    summary: `${what} from IDX files (gzip'd or not), with \`class_label\` for conditioning.`,
    source: 'runtime/data/idx.ts (ldmc)',
    params: params({
      root: opt(nullable(str(`Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]${root ? '' : ' (null: <data root>/mnist)'}.`)), root),
      split: opt(oneOf(['train', 'test'] as const, 'Which split.'), 'train'),
      size: opt(int('Side of the yielded images (28 as stored).', { minimum: 1 }), 32),
      channels: opt(int('1 (grayscale) or 3 (repeated).', { minimum: 1, maximum: 3 }), 1),
      resize: opt(oneOf(['pad', 'bilinear'] as const, 'How 28 becomes size: pad with background (exact pixels; even margins) or bilinear resize.'), 'pad'),
      flip_p: opt(num('Probability of a horizontal flip.', { minimum: 0, maximum: 1 }), 0),
    }),
    datasetFacts: (p) => ({ keys: ['image', 'class_label', 'human_label'], imageShape: [p.size, p.size, p.channels] }),
  });

export const ImageFolder = defineDataset({
  id: 'ldmc.data.ImageFolder',
  aliases: [],
  families: ['dataset'],
  summary: 'Every PNG/JPEG under a folder (recursively, sorted); optionally class labels from the first-level folder names.',
  source: 'runtime/data/image-folder.ts (ldmc)',
  params: params({
    root: opt(nullable(str('Image folder (null: the data root, e.g. --data DIR).')), null),
    size: opt(nullable(int('Side of the square images (shortest side resized, then cropped); null keeps the native size.', { minimum: 1 })), null),
    interpolation: opt(oneOf(['nearest', 'linear', 'bilinear', 'bicubic', 'lanczos'] as const, 'Resize filter.'), 'bicubic'),
    random_crop: opt(bool('Random (true) or center (false) crops.'), false),
    flip_p: opt(num('Probability of a horizontal flip.', { minimum: 0, maximum: 1 }), 0),
    class_folders: opt(bool('Label images by their first-level folder (sorted order) as class_label.'), false),
  }),
  datasetFacts: (p) => ({ keys: ['image', 'file_path_', 'relative_file_path_', ...(p.class_folders ? (['class_label', 'human_label'] as const) : [])], imageShape: rgb(p.size) }),
});

// ---- ldm.data.laion.WebDataModuleFromConfig: the LAION webdataset loader the SD v2 training
// configs name. Neither Stability-AI/stablediffusion nor CompVis/stable-diffusion ships
// ldm/data/laion.py (as latent-diffusion lacks faceshq); the params are those of the laion.py of
// Stability's training code that these configs were written for: (tar_base, batch_size,
// train, validation, test, num_workers, multinode, min_size, max_pwatermark, **kwargs), plus the
// two filter keys the configs pass through **kwargs.
const webSplit = Type.Object({
  shards: Type.Array(Type.String(), { description: 'webdataset shard URLs or brace patterns (e.g. `pipe:aws s3 cp s3://…/{00000..18699}.tar -`).' }),
  shuffle: Type.Optional(Type.Integer({ minimum: 0, description: 'Shuffle buffer size (0: no shuffling).' })),
  image_key: Type.Optional(Type.String({ description: 'Key of the image in each sample.' })),
  image_transforms: Type.Optional(Type.Array(Type.Object({ target: Type.String(), params: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }), { description: 'torchvision transforms, instantiated in order (not resolved by ldmc).' })),
  postprocess: Type.Optional(Type.Object({ target: Type.String(), params: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }, { description: 'A per-sample postprocessor such as ldm.data.laion.AddMask (not resolved by ldmc).' })),
}, { additionalProperties: false, description: 'One split: a plain mapping (no target) that make_loader reads.' });

export const WebDataModuleFromConfigParams = params({
  tar_base: nullable(str('Prefix joined to every shard path (null: the shards are full URLs).')),
  batch_size: int('Batch size per device.', { minimum: 1 }),
  train: opt(nullable(webSplit), null),
  validation: opt(nullable(webSplit), null),
  test: opt(nullable(webSplit), null),
  num_workers: opt(int('Loader workers.', { minimum: 0 }), 4),
  multinode: opt(bool('Split shards across nodes.'), true),
  min_size: opt(nullable(int('Drop images whose shorter side is below this.', { minimum: 1 })), null),
  max_pwatermark: opt(num('Drop samples whose watermark probability exceeds this.', { minimum: 0, maximum: 1 }), 1.0),
  p_unsafe_threshold: opt(nullable(num('Drop samples whose NSFW probability exceeds this (through **kwargs).', { minimum: 0, maximum: 1 })), null),
  filter_word_list: opt(nullable(str('YAML file of caption words to filter out (through **kwargs).')), null),
});

export const WebDataModuleFromConfig = defineTarget({
  id: 'ldm.data.laion.WebDataModuleFromConfig',
  aliases: [],
  families: ['data_module'],
  dialects: ['sd2'],
  summary: 'LAION webdataset data module of the SD v2 training configs (tar shards, watermark/size filters).',
  source: 'ldm/data/laion.py (not in the repository)',
  note: 'Stability-AI/stablediffusion names this class in its configs but does not ship ldm/data/laion.py; ldmc checks its params and cannot load it.',
  params: WebDataModuleFromConfigParams,
});

/** The data targets `defineConfig` types exactly (index.ts); the others are typed by id pattern (OtherTarget). */
export const typedDataTargets = [DataModuleFromConfig, ImageFolder];

export const dataTargets: TargetSpec[] = [
  WebDataModuleFromConfig,
  idx('FashionMNIST', 'Fashion-MNIST', '/usr/share/datasets/fashion-mnist'),
  idx('MNIST', 'MNIST', null),
  ImageFolder,
  defineDataset({
    id: 'ldm.data.lsun.LSUNBase',
    // Stability-AI/stablediffusion ships no ldm/data loaders but base.py and util.py.
    dialects: ['ldm', 'sd1'],
    aliases: [],
    families: ['dataset'],
    summary: 'LSUN file-list layout with an explicit list file and image root.',
    source: 'ldm/data/lsun.py:9',
    params: params({
      txt_file: str('List file of image paths, relative to data_root.'),
      data_root: str('Folder of the images.'),
      size: size(false),
      interpolation: opt(oneOf(['linear', 'bilinear', 'bicubic', 'lanczos'] as const, 'Resize filter.'), 'bicubic'),
      flip_p: opt(num('Probability of a horizontal flip.', { minimum: 0, maximum: 1 }), 0.5),
    }),
    datasetFacts: lsunFacts,
  }),
  DataModuleFromConfig,
  faces('CelebAHQTrain', 'CelebA-HQ training split'),
  faces('CelebAHQValidation', 'CelebA-HQ validation split'),
  faces('FFHQTrain', 'FFHQ training split'),
  faces('FFHQValidation', 'FFHQ validation split'),
  imagenetSR('ImageNetSRTrain', 375),
  imagenetSR('ImageNetSRValidation', 386),
  imagenet('ImageNetTrain', 134),
  imagenet('ImageNetValidation', 197),
  lsun('LSUNBedroomsTrain', 73, 0.5),
  lsun('LSUNBedroomsValidation', 78, 0.0),
  lsun('LSUNChurchesTrain', 62, 0.5),
  lsun('LSUNChurchesValidation', 67, 0.0),
  lsun('LSUNCatsTrain', 84, 0.5),
  lsun('LSUNCatsValidation', 89, 0.0),
  missing('landscapes', 'RFWTrain', { size: size(false), crop_size: cropSize, segmentation_to_float32: opt(bool('Return segmentation as float32.'), false) }),
  missing('landscapes', 'RFWValidation', { size: size(false), crop_size: cropSize, segmentation_to_float32: opt(bool('Return segmentation as float32.'), false) }),
  missing('openimages', 'FullOpenImagesTrain', { size: size(false), crop_size: cropSize }),
  missing('openimages', 'FullOpenImagesValidation', { size: size(false), crop_size: cropSize }),
  missing('openimages', 'OpenImagesBBoxTrain', { size: size(false) }),
  missing('openimages', 'OpenImagesBBoxValidation', { size: size(false) }),
  missing('openimages', 'SuperresOpenImagesAdvancedTrain', srParams),
  missing('openimages', 'SuperresOpenImagesAdvancedValidation', srParams),
  missing('previews.pytorch_dataset', 'PreviewsTrain', { size: size(false) }),
  missing('previews.pytorch_dataset', 'PreviewsValidation', { size: size(false) }),
];
