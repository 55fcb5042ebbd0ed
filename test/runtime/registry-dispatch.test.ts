// The commands and the runtime pick behaviour from the registry's family statics (schema/family.ts),
// never from a class name. These tests hold every registered target of a family to the statics
// those decisions read, and check that each decision the runtime takes from them builds the right
// thing: a new target without its statics, or with statics the runtime cannot follow, fails here.
import { expect } from 'chai';
import { initBackend } from '../../runtime/backend.js';
import { canBuild } from '../../runtime/build.js';
import { buildableWrapperIds, wrapperClass } from '../../runtime/diffusion/build.js';
import { LatentDiffusion } from '../../runtime/diffusion/latent-diffusion.js';
import { createLoss, DummyLoss, LPIPSWithDiscriminator, lossTargetIds, VQLPIPSWithDiscriminator } from '../../runtime/losses/index.js';
import { makeScheduler } from '../../runtime/train/schedulers.js';
import { isPassthrough, type Regularizer } from '../../schema/family.js';
import { allTargets, lookupTarget } from '../../schema/index.js';

const of = (family: string) => allTargets.filter((t) => (t.families as readonly string[]).includes(family));

describe('registry dispatch (family statics decide, not class names)', function () {
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('every loss target states what it trains and logs, or is a passthrough (no loss)', function () {
    const losses = of('loss');
    expect(losses.length).to.be.greaterThan(2);
    for (const t of losses) {
      const st = t.statics;
      expect(st?.family === 'loss' || isPassthrough(t), t.id).to.equal(true);
    }
    // Each accepted id (aliases included) is a loss target of the registry.
    for (const id of lossTargetIds) expect(lookupTarget(id)?.families, id).to.include('loss');
  });

  it('createLoss builds, for each loss target, the class its statics say it trains (and nothing for a passthrough)', function () {
    const classOf: Record<Regularizer | 'none', unknown> = { kl: LPIPSWithDiscriminator, vq: VQLPIPSWithDiscriminator, none: DummyLoss };
    for (const t of of('loss')) {
      const st = t.statics;
      const params = t.params.required?.includes('disc_start') ? { disc_start: 0, perceptual_weight: 0 } : {};
      const loss = createLoss(t.id, params);
      try {
        if (st?.family !== 'loss') {
          expect(loss, t.id).to.equal(null);
          continue;
        }
        expect(loss, t.id).to.be.instanceOf(classOf[st.trains ?? 'none'] as new (...a: never[]) => unknown);
        expect(st.patchGan, t.id).to.equal(st.trains !== null);
        expect(st.logged.length > 0, t.id).to.equal(st.trains !== null);
      } finally {
        loss?.dispose();
      }
    }
  });

  it('every first stage states its regularizer, and a loss exists that trains it', function () {
    const firstStages = of('first_stage');
    expect(firstStages.length).to.be.greaterThan(2);
    for (const t of firstStages) {
      const st = t.statics;
      expect(st?.family, t.id).to.equal('first_stage');
      if (st?.family !== 'first_stage') continue;
      expect(of('loss').some((l) => l.statics?.family === 'loss' && l.statics.trains === st.regularizer), t.id).to.equal(true);
    }
  });

  it('every schedule target has a schedule makeScheduler computes; other targets are refused', function () {
    const schedules = of('lr_scheduler');
    expect(schedules.length).to.be.greaterThan(1);
    const sample: Record<string, Record<string, unknown>> = {
      'warm-up-cosine': { warm_up_steps: 10, lr_min: 0.1, lr_max: 1, lr_start: 0, max_decay_steps: 100 },
      'linear-cycles': { warm_up_steps: [10], f_min: [0.1], f_max: [1], f_start: [0], cycle_lengths: [100] },
    };
    for (const t of schedules) {
      const st = t.statics;
      expect(st?.family, t.id).to.equal('lr_scheduler');
      if (st?.family !== 'lr_scheduler') continue;
      const f = makeScheduler(t.id, sample[st.schedule]);
      // Halfway through warm-up both schedules are halfway from their start (0) to their peak (1).
      expect(f(5), t.id).to.be.closeTo(0.5, 1e-12);
      expect(f(100), t.id).to.be.closeTo(0.1, 1e-12);
    }
    expect(() => makeScheduler('ldm.modules.encoders.modules.ClassEmbedder', {})).to.throw(/no learning-rate schedule/);
  });

  it('every buildable cond stage says what it conditions on, so LatentDiffusion and ldmc forward can call it', function () {
    const stages = of('cond_stage').filter((t) => canBuild(t.id));
    expect(stages.length).to.be.greaterThan(2);
    for (const t of stages) {
      const st = t.statics;
      expect(st?.family, t.id).to.equal('cond_stage');
      if (st?.family === 'cond_stage') expect(st.conditioning ?? (st.passthrough ? 'passthrough' : undefined), t.id).to.not.equal(undefined);
    }
    expect(isPassthrough(lookupTarget('torch.nn.Identity'))).to.equal(true);
    expect(isPassthrough(lookupTarget('ldm.modules.encoders.modules.ClassEmbedder'))).to.equal(false);
  });

  it('a diffusion target builds the class its runtime ref names; one without a ref is not buildable', function () {
    const wrappers = of('model').filter((t) => t.statics?.family === 'diffusion');
    expect(wrappers.length).to.be.greaterThan(1);
    for (const t of wrappers) {
      const C = wrapperClass(t.id);
      if (t.runtime) expect(C === LatentDiffusion || C?.prototype instanceof LatentDiffusion, t.id).to.equal(true);
      else expect(C, t.id).to.equal(undefined);
    }
    expect(buildableWrapperIds()).to.include('ldm.models.diffusion.ddpm.LatentDiffusion');
    // A non-wrapper target never resolves, whatever its runtime class.
    expect(wrapperClass('ldm.models.autoencoder.AutoencoderKL')).to.equal(undefined);
  });

  it('exactly the image-logging callbacks carry imageLogging, naming params they have', function () {
    const loggers = of('callback').filter((t) => t.statics?.family === 'callback' && t.statics.imageLogging);
    expect(loggers.map((t) => t.id)).to.deep.equal(['main.ImageLogger']);
    for (const t of loggers) {
      const st = t.statics;
      if (st?.family !== 'callback' || !st.imageLogging) continue;
      expect(Object.keys(t.params.properties)).to.include.members([st.imageLogging.everyParam, st.imageLogging.maxImagesParam]);
    }
  });
});
