// The tiny first-stage fixtures of test/train/*-task.test.ts, built as `ldmc train` builds them:
// the config compiled with the real compiler, the model and its loss from the registry (seeded),
// the data module, and TrainOptions for the real loop.
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { child } from '../../compiler/ir.js';
import { compile } from '../../compiler/program.js';
import { resolvedNode } from '../../compiler/resolved.js';
import { initBackend } from '../../runtime/backend.js';
import { buildComponent } from '../../runtime/build.js';
import { DataModule, type DataModuleParams } from '../../runtime/data/index.js';
import { createLoss } from '../../runtime/losses/index.js';
import type { Module } from '../../runtime/module.js';
import { seedInit } from '../../runtime/nn/init.js';
import type { TrainOptions } from '../../runtime/train/trainer.js';
import { diskHost } from './compile.js';

export interface TinyFirstStage<T> {
  readonly task: T;
  readonly data: DataModule;
  readonly lr: number;
  readonly graph: ReturnType<typeof compile>['graph'];
  dispose(): void;
}

/**
 * `config` with disc_start and `overrides` applied, its model and loss built after seedInit(seed)
 * (the initial weights), and `makeTask` of them with the config's learning rate.
 */
export function tinyFirstStage<M extends Module, L extends Module, T>(
  config: string, makeTask: (model: M, loss: L, lr: number) => T, discStart: number, overrides: string[] = [], seed = 7,
): TinyFirstStage<T> {
  const r = compile({ files: [config], overrides: [`model.params.lossconfig.params.disc_start=${discStart}`, ...overrides] }, diskHost);
  expect(r.hasErrors, r.diagnostics.map((d) => d.message).join('\n')).to.equal(false);
  const m = r.graph!.model!;
  const lc = child(m, 'lossconfig')!;
  seedInit(seed);
  const model = buildComponent(m.target, m.params) as unknown as M;
  const loss = createLoss(lc.target, lc.params) as unknown as L;
  seedInit(undefined);
  const data = new DataModule(resolvedNode(r.graph!.data!).params as unknown as DataModuleParams, { seed: 23, numWorkers: 0 });
  const lr = r.inference!.learningRate!.value;
  return {
    task: makeTask(model, loss, lr),
    data,
    lr,
    graph: r.graph,
    dispose: () => {
      model.dispose();
      loss.dispose();
    },
  };
}

/** TrainOptions for a tiny run: no checkpoints, validation or images unless `over` asks. */
export function tinyTrainOptions(
  t: { readonly data: DataModule; readonly lr: number }, configHash: string, runDir: string, maxSteps: number, over: Partial<TrainOptions> = {},
): TrainOptions {
  return {
    runDir, data: t.data, maxSteps, accumulate: 1, seed: 23, configHash, lr: t.lr, lrMultiplier: () => 1,
    checkpointEvery: 1000, validateEvery: 1000, valBatches: 1, imageEvery: undefined, maxImages: 4, monitor: 'val/rec_loss',
    resume: false, log: () => {}, ...over,
  };
}

export const hasFashion = existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz');

/**
 * The hooks of a suite that trains tiny models on Fashion-MNIST: pending without the dataset, a
 * temp folder (returned as a getter) and the wasm backend (the cpu backend's convolution gradients
 * are ~100× slower), both undone after the suite.
 */
export function fashionWasmSuite(prefix: string): () => string {
  let dir = '';
  before(async function () {
    if (!hasFashion) {
      this.test!.title += ' (pending: Debian dataset-fashion-mnist not installed; run scripts/install-datasets.sh)';
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), prefix));
    await initBackend({ backend: 'wasm', quiet: true });
  });
  after(async function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await initBackend({ backend: 'cpu', quiet: true });
  });
  return () => dir;
}
