// The training loop as a library (runtime/train/trainer.ts): an application stops it with an
// AbortSignal and keeps its process. The loop finishes the step under way, writes its checkpoint
// and says it was interrupted; it never exits nor installs process handlers (the CLI maps Ctrl-C
// to the signal and 'interrupted' to exit 130). Real VQ first stage, wasm, Fashion-MNIST 16×16.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VQModel } from '../../runtime/autoencoder/index.js';
import type { VQLPIPSWithDiscriminator } from '../../runtime/losses/index.js';
import { loadLatestCheckpoint } from '../../runtime/train/checkpoint.js';
import { train } from '../../runtime/train/trainer.js';
import { VqTask } from '../../runtime/train/vq-task.js';
import { fashionWasmSuite, tinyFirstStage, tinyTrainOptions } from '../support/first-stage.js';
import { repoRoot } from '../support/reference.js';

const config = join(repoRoot, 'test', 'fixtures', 'train', 'tiny-vq.yaml');

const tiny = () => tinyFirstStage(config, (model: VQModel, loss: VQLPIPSWithDiscriminator, lr: number) => new VqTask(model, loss, lr), 100000);
const trainSteps = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).filter((r) => r['train/rec_loss'] !== undefined).map((r) => r.step);

/** How many listeners the process has, per event: what an embedded trainer must leave as it found it. */
const processListeners = () => Object.fromEntries(process.eventNames().map((e) => [String(e), process.listenerCount(e)]));

describe('train() with an AbortSignal', function () {
  this.timeout(120000);
  const dir = fashionWasmSuite('ldmc-abort-');

  it('aborted after step 3: finishes it, checkpoints it, says interrupted, and adds no process listener; the checkpoint resumes', async function () {
    const t = tiny();
    try {
      const run = join(dir(), 'abort');
      const controller = new AbortController();
      const before = processListeners();
      const during: Array<Record<string, number>> = [];
      const afterStep = t.task.afterStep.bind(t.task);
      t.task.afterStep = (step) => {
        afterStep(step);
        during.push(processListeners());
        if (step === 3) controller.abort();
      };
      // checkpointEvery 1000: the only checkpoint is the one the abort asks for.
      const res = await train(t.task, tinyTrainOptions(t, 'tiny-vq', run, 50, { signal: controller.signal }));
      expect(res.status).to.equal('interrupted');
      expect(res.step).to.equal(3);
      expect(res.message).to.include(`--resume ${run}`);
      const ck = loadLatestCheckpoint(run)!;
      expect(ck.state.step).to.equal(3);
      expect(res.lastCheckpoint).to.equal(ck.dir);
      expect(trainSteps(run)).to.deep.equal([1, 2, 3]);
      expect(during).to.have.length(3);
      for (const d of during) expect(d).to.deep.equal(before);
      expect(processListeners()).to.deep.equal(before);

      t.task.afterStep = afterStep;
      const more = await train(t.task, tinyTrainOptions(t, 'tiny-vq', run, 5, { resume: true, signal: new AbortController().signal }));
      expect(more.status).to.equal('done');
      expect(loadLatestCheckpoint(run)!.state.step).to.equal(5);
      expect(trainSteps(run)).to.deep.equal([1, 2, 3, 4, 5]);
    } finally {
      t.dispose();
    }
  });

  it('aborted before it starts: trains nothing and writes no checkpoint', async function () {
    const t = tiny();
    try {
      const run = join(dir(), 'early');
      const res = await train(t.task, tinyTrainOptions(t, 'tiny-vq', run, 5, { signal: AbortSignal.abort() }));
      expect(res.status).to.equal('interrupted');
      expect(res.step).to.equal(0);
      expect(res.lastCheckpoint).to.equal(undefined);
      expect(loadLatestCheckpoint(run)).to.equal(undefined);
    } finally {
      t.dispose();
    }
  });
});
