// Training a VQ first stage as the reference's VQModel does: two Adam optimizers (betas 0.5, 0.9),
// the autoencoder on reconstruction + codebook (+ the adversarial term after disc_start, with the
// adaptive weight), the PatchGAN discriminator on its hinge/vanilla loss (× 0 before disc_start,
// where its optimizer still steps, as Lightning's does). The shared parts: ./first-stage-task.ts.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { VQModel, VQModelInterface } from '../autoencoder/index.js';
import { decodeWithLastLayer } from '../losses/last-layer.js';
import type { VQLPIPSWithDiscriminator } from '../losses/vqperceptual.js';
import { FirstStageTask, psnr } from './first-stage-task.js';
import type { StepLoss, TensorBatch } from './trainer.js';

export class VqTask extends FirstStageTask<VQModel | VQModelInterface, VQLPIPSWithDiscriminator> {
  constructor(model: VQModel | VQModelInterface, criterion: VQLPIPSWithDiscriminator, lr: number, lrGFactor = 1) {
    super(model, criterion, lr, lrGFactor, 'the VQ model');
  }

  /** x̂ = decode(quantize(encode(x))) (VQModel.forward's dec). */
  private reconstruct(x: Tensor4D): Tensor4D {
    const m = this.model;
    return tf.tidy(() => m.decodeQuant(m.quantize.forward(m.encodeToPrequant(x)).zq));
  }

  loss(batch: TensorBatch, k: number, step: number): StepLoss {
    const x = batch.image as Tensor4D;
    const m = this.model;
    if (k === 0) {
      const q = m.quantize.forward(m.encodeToPrequant(x));
      const { dec, lastLayer } = decodeWithLastLayer(m.decoder, m.post_quant_conv.forward(q.zq));
      try {
        const out = this.criterion.forward(q.loss, x, dec, 0, step, lastLayer, null, 'train');
        return { loss: out.loss, logs: this.scalars(out.log) };
      } finally {
        lastLayer.dispose();
      }
    }
    // optimizer_idx 1, on every step (self(x) again, then the discriminator on x and x̂).
    const out = this.criterion.forward(tf.scalar(0), x, this.reconstruct(x), 1, step, null, null, 'train');
    return this.discriminatorLoss(out, step, this.scalars(out.log));
  }

  /**
   * validation_step: `_validation_step` twice, plain and as `val_ema` (inside ema_scope, a no-op
   * without use_ema, which ldmc does not support for VQ models: the same values). Each logs both
   * loss dicts at the real global step (d_weight is 0 in eval mode, as the reference's no_grad
   * path gives), val/rec_loss and val/aeloss (the generator's total loss); plus ldmc's val/psnr.
   */
  validate(batch: TensorBatch): Record<string, number> {
    const x = batch.image as Tensor4D;
    const m = this.model;
    return this.evalMode(() => tf.tidy(() => {
      const q = m.quantize.forward(m.encodeToPrequant(x));
      const dec = m.decodeQuant(q.zq);
      const ae = this.criterion.forward(q.loss, x, dec, 0, this.globalStep, null, null, 'val');
      const disc = this.criterion.forward(q.loss, x, dec, 1, this.globalStep, null, null, 'val');
      const log: Record<string, number> = { 'val/rec_loss': ae.log['val/rec_loss']!, 'val/aeloss': ae.log['val/total_loss']!, ...ae.log, ...disc.log };
      const out: Record<string, number> = { ...log };
      for (const [k, v] of Object.entries(log)) out[`val_ema/${k.slice('val/'.length)}`] = v;
      out['val/psnr'] = psnr(x, dec);
      return out;
    }));
  }

  /** log_images (in eval mode, as the ImageLogger calls it): inputs and reconstructions. */
  async logImages(batch: TensorBatch): Promise<Record<string, Tensor4D>> {
    const x = batch.image as Tensor4D;
    return this.evalMode(() => ({ inputs: x.clone(), reconstructions: this.reconstruct(x) }));
  }
}
