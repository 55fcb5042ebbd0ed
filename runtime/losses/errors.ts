// Errors of the first-stage losses that a user can act on (the CLI prints their message).

/** A loss with perceptual_weight > 0 was built without a file of LPIPS weights. */
export class LpipsWeightsRequired extends Error {
  override readonly name = 'LpipsWeightsRequired';
  constructor(readonly lossName: string, readonly perceptualWeight: number) {
    super(`${lossName}: perceptual_weight is ${perceptualWeight}, which needs the pretrained LPIPS network (VGG16 features + `
      + 'the five LPIPS heads), and ldmc cannot download it. Either pass --lpips-weights FILE with those weights '
      + '(a safetensors or .pth file with torchvision\'s features.* and lin0..4.model.1.weight, e.g. taming\'s vgg.pth '
      + 'plus torchvision vgg16, converted with `ldmc convert`), or set perceptual_weight: 0 in the lossconfig params '
      + '(--set model.params.lossconfig.params.perceptual_weight=0) to train with the L1 + GAN loss only.');
  }
}
