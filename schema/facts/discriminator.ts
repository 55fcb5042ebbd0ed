// taming's NLayerDiscriminator (PatchGAN) geometry: how large its patch map is for a given input,
// and how deep it may be before the map is empty (where PyTorch raises in a convolution).

/**
 * Side of the patch map for a `side`-px input: `n_layers` 4×4 stride-2 convolutions (padding 1,
 * each giving ⌊s/2⌋), then two 4×4 stride-1 ones (padding 1, each giving s − 1). 0 when the map
 * is empty: the reference's conv then raises ("kernel size can't be greater than actual input size").
 */
export function patchGanOutputSide(side: number, nLayers: number): number {
  let s = side;
  for (let i = 0; i < nLayers; i++) s = Math.floor(s / 2);
  s -= 2;
  return Math.max(0, s);
}

/** The largest n_layers whose patch map is not empty for `side`-px inputs; 0 when not even 1 fits. */
export function maxPatchGanLayers(side: number): number {
  let n = 0;
  while (patchGanOutputSide(side, n + 1) >= 1) n++;
  return n;
}
