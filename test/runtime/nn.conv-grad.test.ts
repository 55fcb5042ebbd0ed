// The forward-conv Conv2D gradient used on wasm against the cpu backend's native kernels.
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend.js';
import { conv2dTorch, registerConv2dGradient } from '../../runtime/nn/index.js';
import { setNativeKernels } from '../../runtime/perf/native-kernels.js';
import { maxAbsBetween, seededData } from './nn.helpers.js';

type Shape4 = [number, number, number, number];
type Case = [name: string, x: Shape4, w: Shape4, stride: number, pad: Shape4];
const CASES: Case[] = [
  ['3x3 s1 p1', [2, 9, 9, 8], [3, 3, 8, 12], 1, [1, 1, 1, 1]],
  ['3x3 s2 p1 (UNet Downsample)', [2, 8, 8, 8], [3, 3, 8, 12], 2, [1, 1, 1, 1]],
  ['3x3 s2 pad (0,1,0,1) (first-stage Downsample)', [2, 8, 8, 8], [3, 3, 8, 12], 2, [0, 1, 0, 1]],
  ['3x3 s2 valid, odd size', [2, 9, 9, 4], [3, 3, 4, 6], 2, [0, 0, 0, 0]],
  ['1x1', [2, 5, 5, 8], [1, 1, 8, 4], 1, [0, 0, 0, 0]],
];

const data = seededData;

function grads(c: Case): { dx: Float32Array; dw: Float32Array } {
  const [, xs, ws, stride, pad] = c;
  return tf.tidy(() => {
    const x = tf.tensor(data(xs, 3), xs) as Tensor4D, w = tf.tensor(data(ws, 5), ws) as Tensor4D;
    const r = tf.tensor(data(conv2dTorch(x, w, stride, pad).shape, 11), conv2dTorch(x, w, stride, pad).shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2dTorch(a as Tensor4D, b as Tensor4D, stride, pad), r)))([x, w]);
    return { dx: dx!.dataSync() as Float32Array, dw: dw!.dataSync() as Float32Array };
  });
}

const maxAbs = maxAbsBetween;

describe('nn conv2d gradient on wasm (forward-conv formulation, native kernels off)', function () {
  const native = new Map<string, { dx: Float32Array; dw: Float32Array }>();
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    registerConv2dGradient(); // dispatches on the backend: cpu keeps its native gradient
    for (const c of CASES) native.set(c[0], grads(c));
    await initBackend({ backend: 'wasm', quiet: true });
    setNativeKernels(false); // the forward-conv formulation; test/runtime/native-kernels.test.ts covers the addon
  });
  after(() => setNativeKernels(true));

  for (const c of CASES) {
    it(`${c[0]}: dx and dW match the cpu backend's native gradient`, () => {
      const ours = grads(c), ref = native.get(c[0])!;
      expect(maxAbs(ours.dx, ref.dx)).to.be.lessThan(2e-5);
      expect(maxAbs(ours.dw, ref.dw)).to.be.lessThan(2e-5);
    });
  }
});
