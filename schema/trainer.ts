// The `lightning:` section: trainer options, callbacks and loggers, as main.py reads them.
import { Type } from './type-builder.js';
import { bool, defineTarget, dialects, int, nullable, opt, params, str, type Filled } from './types.js';

export const ImageLoggerParams = params({
  batch_frequency: int('Log images every this many batches.', { minimum: 1 }),
  max_images: int('Images per logged grid.', { minimum: 1 }),
  clamp: opt(bool('Clamp images to [-1, 1].'), true),
  increase_log_steps: opt(bool('Also log at steps 1, 2, 4, … below batch_frequency.'), true),
  rescale: opt(bool('Rescale from [-1, 1] to [0, 1].'), true),
  disabled: opt(bool('Turn the logger off.'), false),
  log_on_batch_idx: opt(bool('Count batches within the epoch instead of global steps.'), false),
  log_first_step: opt(bool('Log at step 0.'), false),
  log_images_kwargs: opt(nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'Arguments for log_images (e.g. ddim_steps).' })), null),
  log_before_first_step: opt(dialects(['sd2'], bool('Also log before the first training step.')), false),
  enable_autocast: opt(dialects(['sd2'], bool('Run log_images under torch.autocast (mixed precision).')), true),
});
export type ImageLoggerParams = Filled<typeof ImageLoggerParams>;

export const ImageLogger = defineTarget({
  id: 'main.ImageLogger',
  aliases: [],
  families: ['callback'],
  summary: 'Writes image grids (inputs, reconstructions, samples) every batch_frequency steps.',
  source: 'main.py:289',
  params: ImageLoggerParams,
  statics: { family: 'callback', imageLogging: { everyParam: 'batch_frequency', maxImagesParam: 'max_images' } },
});

export const SetupCallback = defineTarget({
  id: 'main.SetupCallback',
  aliases: [],
  families: ['callback'],
  summary: 'Creates the run folders and saves the resolved config (main.py adds it by default).',
  source: 'main.py:209',
  params: params({
    resume: opt(bool('Resuming a run.'), false),
    now: opt(str('Run timestamp.'), ''),
    logdir: opt(str('Run folder.'), ''),
    ckptdir: opt(str('Checkpoint folder.'), ''),
    cfgdir: opt(str('Config folder.'), ''),
    config: opt(Type.Record(Type.String(), Type.Unknown(), { description: 'The resolved config to save.' }), {}),
    lightning_config: opt(Type.Record(Type.String(), Type.Unknown(), { description: 'The resolved lightning section to save.' }), {}),
  }),
});

export const CUDACallback = defineTarget({
  id: 'main.CUDACallback',
  aliases: [],
  families: ['callback'],
  summary: 'Reports epoch time and peak GPU memory (main.py adds it by default).',
  source: 'main.py:387',
  params: params({}),
});

export const LearningRateMonitor = defineTarget({
  id: 'pytorch_lightning.callbacks.LearningRateMonitor',
  aliases: [],
  families: ['callback'],
  summary: 'Logs the learning rate (main.py adds it by default).',
  source: 'pytorch_lightning/callbacks/lr_monitor.py',
  params: params({
    logging_interval: opt(nullable(str('"step" or "epoch".')), null),
    log_momentum: opt(bool('Also log momentum.'), false),
  }),
});

export const ModelCheckpoint = defineTarget({
  id: 'pytorch_lightning.callbacks.ModelCheckpoint',
  aliases: [],
  families: ['callback'],
  summary: 'Saves checkpoints (main.py configures it from `lightning.modelcheckpoint` and the model monitor).',
  source: 'pytorch_lightning/callbacks/model_checkpoint.py',
  params: params({
    dirpath: opt(nullable(str('Checkpoint folder.')), null),
    filename: opt(nullable(str('Checkpoint file name pattern.')), null),
    monitor: opt(nullable(str('Metric to select checkpoints by.')), null),
    verbose: opt(bool('Print when saving.'), false),
    save_last: opt(nullable(bool('Also save last.ckpt.')), null),
    save_top_k: opt(int('How many best checkpoints to keep (-1: all).'), 1),
    mode: opt(str('"min" or "max".'), 'min'),
    every_n_train_steps: opt(nullable(int('Save every N training steps.', { minimum: 0 })), null),
    every_n_epochs: opt(nullable(int('Save every N epochs.', { minimum: 0 })), null),
    save_weights_only: opt(bool('Save only the weights.'), false),
  }),
});

const loggerParams = params({
  name: opt(nullable(str('Run name.')), null),
  save_dir: opt(nullable(str('Log folder.')), null),
  offline: opt(bool('Do not sync.'), false),
  id: opt(nullable(str('Run id.')), null),
  version: opt(nullable(Type.Union([Type.String(), Type.Integer()], { description: 'Run version.' })), null),
});
export const TestTubeLogger = defineTarget({
  id: 'pytorch_lightning.loggers.TestTubeLogger',
  aliases: [],
  families: ['logger'],
  summary: 'TestTube logger (main.py default).',
  source: 'pytorch_lightning/loggers/test_tube.py',
  params: loggerParams,
});
export const WandbLogger = defineTarget({
  id: 'pytorch_lightning.loggers.WandbLogger',
  aliases: [],
  families: ['logger'],
  summary: 'Weights & Biases logger.',
  source: 'pytorch_lightning/loggers/wandb.py',
  params: loggerParams,
});

/** Callback names main.py provides itself, so a config may give only their params. */
export const DefaultCallbackTargets: Readonly<Record<string, string>> = {
  setup_callback: SetupCallback.id,
  image_logger: ImageLogger.id,
  learning_rate_logger: LearningRateMonitor.id,
  cuda_callback: CUDACallback.id,
  checkpoint_callback: ModelCheckpoint.id,
  // main.py adds it (pytorch_lightning >= 1.4): every_n_train_steps checkpoints kept in
  // checkpoints/trainstep_checkpoints; the SD configs give only its params.
  metrics_over_trainsteps_checkpoint: ModelCheckpoint.id,
};

/** The logger main.py uses when `lightning.logger` gives no target. */
export const DefaultLoggerTarget: string = TestTubeLogger.id;

/**
 * Top-level `lightning:` keys that are plain values, not sections: Stability-AI's main.py reads
 * `find_unused_parameters` (bool, for its DDP strategy).
 */
export const LightningScalarKeys: Readonly<Record<string, 'boolean'>> = {
  find_unused_parameters: 'boolean',
};

/** pytorch_lightning 1.4 Trainer options, as main.py forwards them (trainer_kwargs). */
export const TrainerOptions = Type.Object(
  {
    accumulate_grad_batches: Type.Optional(Type.Integer({ minimum: 1, description: 'Batches per optimizer step; scales the learning rate (main.py).' })),
    gpus: Type.Optional(Type.Union([Type.String(), Type.Integer(), Type.Array(Type.Integer()), Type.Null()], { description: 'GPUs, e.g. "0,1,"; their number scales the learning rate (main.py).' })),
    benchmark: Type.Optional(Type.Boolean({ description: 'cudnn.benchmark.' })),
    max_epochs: Type.Optional(Type.Integer({ minimum: 1, description: 'Stop after this many epochs.' })),
    max_steps: Type.Optional(Type.Integer({ minimum: 1, description: 'Stop after this many optimizer steps.' })),
    num_nodes: Type.Optional(Type.Integer({ minimum: 1, description: 'Nodes for distributed training.' })),
    precision: Type.Optional(Type.Union([Type.Integer(), Type.String()], { description: '32, 16 or "bf16".' })),
    val_check_interval: Type.Optional(Type.Number({ description: 'Validate every this fraction of an epoch (or this many batches).' })),
    check_val_every_n_epoch: Type.Optional(Type.Integer({ minimum: 1, description: 'Validate every N epochs.' })),
    limit_train_batches: Type.Optional(Type.Number({ description: 'Fraction or number of training batches per epoch.' })),
    limit_val_batches: Type.Optional(Type.Number({ description: 'Fraction or number of validation batches.' })),
    num_sanity_val_steps: Type.Optional(Type.Integer({ description: 'Validation batches before training.' })),
    gradient_clip_val: Type.Optional(Type.Number({ minimum: 0, description: 'Clip gradients to this norm.' })),
    log_every_n_steps: Type.Optional(Type.Integer({ minimum: 1, description: 'Scalar logging interval.' })),
    accelerator: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'ddp, dp, …' })),
    strategy: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Distributed strategy.' })),
    devices: Type.Optional(Type.Union([Type.String(), Type.Integer(), Type.Null()], { description: 'Devices.' })),
    deterministic: Type.Optional(Type.Boolean({ description: 'Deterministic algorithms.' })),
    resume_from_checkpoint: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Checkpoint to resume.' })),
    seed: Type.Optional(Type.Integer({ description: 'Random seed (ldmc extension; main.py takes --seed).' })),
  },
  { additionalProperties: true },
);

export const trainerTargets = [ImageLogger, SetupCallback, CUDACallback, LearningRateMonitor, ModelCheckpoint, TestTubeLogger, WandbLogger];
