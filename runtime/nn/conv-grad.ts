// A Conv2D gradient made only of forward conv2d calls, for the wasm backend: tfjs-backend-wasm
// 4.22 has no Conv2DBackpropFilter kernel at all, and its Conv2DBackpropInput is ~10x slower than
// a forward conv (XNNPACK). Other backends keep the gradient that was registered before.
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, NamedAttrMap, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { registerBatchMatMulGradient } from '../perf/matmul.js';
import { installWasmKernels } from '../perf/wasm-kernels.js';
import { nativeKernelsActive } from '../perf/native-kernels.js';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function padInfo(xShape: number[], filterShape: number[], strides: [number, number], pad: Pad, rounding: Rounding) {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, 1, pad, rounding,
  ).padInfo;
}

/**
 * dL/dW: correlate xᵀ ([Cin, H, W, B]) with dyᵀ ([Ho, Wo, B, Cout]) used as the filter, the
 * strides becoming dilations; rows the forward conv never reached are sliced off.
 */
export function conv2dFilterGrad(x: Tensor4D, dy: Tensor4D, filterShape: [number, number, number, number], strides: [number, number], pad: Pad, rounding?: Rounding): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, cin, cout] = filterShape;
    const { top, bottom, left, right } = padInfo(x.shape, filterShape, strides, pad, rounding);
    const xT = tf.transpose(x, [3, 1, 2, 0]);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    let r = tf.conv2d(xT, dyT, 1, [[0, 0], [top, bottom], [left, right], [0, 0]], 'NHWC', strides);
    if (r.shape[1] !== kh || r.shape[2] !== kw) r = tf.slice(r, [0, 0, 0, 0], [cin, kh, kw, cout]);
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}

/**
 * dL/dx: correlate dy, with (stride-1) zeros inserted between its rows/columns, against the
 * filter rotated 180° with in/out swapped. Falls back to conv2dTranspose for pads larger than
 * the kernel (never produced by the models here).
 */
export function conv2dInputGrad(xShape: [number, number, number, number], dy: Tensor4D, filter: Tensor4D, strides: [number, number], pad: Pad, rounding?: Rounding): Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filter.shape, [B, H, W] = xShape, [, Ho, Wo, Co] = dy.shape;
    const [sh, sw] = strides;
    const { top, left } = padInfo(xShape, filter.shape, strides, pad, rounding);
    let d: Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      const spread = tf.pad(tf.reshape(dy, [B, Ho, 1, Wo, 1, Co]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
      d = tf.slice(tf.reshape(spread, [B, Ho * sh, Wo * sw, Co]) as Tensor4D, [0, 0, 0, 0], [B, (Ho - 1) * sh + 1, (Wo - 1) * sw + 1, Co]);
    }
    const pt = kh - 1 - top, pl = kw - 1 - left;
    const pb = H - d.shape[1] - pt + kh - 1, pr = W - d.shape[2] - pl + kw - 1;
    if (pt < 0 || pl < 0 || pb < 0 || pr < 0) return tf.conv2dTranspose(dy, filter, xShape, strides, pad === 'same' || pad === 'valid' ? pad : 'valid', rounding);
    const rotated = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as Tensor4D;
    return tf.conv2d(d, rotated, 1, [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
  });
}

let previous: GradConfig | undefined;
let installed = false;

/**
 * Installs the forward-conv gradient for Conv2D on the wasm backend. Idempotent. The gradient
 * registry is global, so the config dispatches on the active backend and hands every other
 * backend to the previously registered (native) gradient.
 */
export function registerConv2dGradient(): void {
  // The matmul gradient has the same problem on wasm (slow kernels behind transpose flags); it is
  // installed here because this is the hook initBackend calls for wasm.
  registerBatchMatMulGradient();
  installWasmKernels(); // faster Slice/Unpack/SplitV (runtime/perf/wasm-kernels.ts)
  if (installed) return;
  previous = tf.getGradient('Conv2D');
  installed = true;
  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as {
        strides: number | [number, number]; pad: Pad; dataFormat: string; dilations: number | [number, number]; dimRoundingMode: Rounding;
      };
      const dil = typeof dilations === 'number' ? [dilations, dilations] : dilations;
      const useOwn = tf.getBackend() === 'wasm' && dataFormat === 'NHWC' && (nativeKernelsActive() || (dil[0] === 1 && dil[1] === 1));
      if (!useOwn) {
        if (!previous) throw new Error('No Conv2D gradient registered for this backend (gradients not loaded: call initBackend())');
        return previous.gradFunc(dy, saved, attrs);
      }
      const [x, f] = saved as [Tensor4D, Tensor4D];
      const g = dy as Tensor4D;
      if (nativeKernelsActive()) {
        // The addon's backprop kernels (runtime/perf/native-kernels.ts) take the conv as it is.
        const common = { strides, pad, dataFormat, dilations, dimRoundingMode };
        return {
          x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: g, filter: f }, { ...common, inputShape: x.shape } as unknown as NamedAttrMap) as Tensor4D,
          filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: g }, { ...common, filterShape: f.shape } as unknown as NamedAttrMap) as Tensor4D,
        };
      }
      const s: [number, number] = typeof strides === 'number' ? [strides, strides] : strides;
      return {
        x: () => conv2dInputGrad(x.shape, g, f, s, pad, dimRoundingMode),
        filter: () => conv2dFilterGrad(x, g, f.shape, s, pad, dimRoundingMode),
      };
    },
  });
}
