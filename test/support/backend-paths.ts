// The backend paths the parity tests run on: each tfjs backend the runtime picks (runtime/backend.ts)
// with the native kernels on, and the cpu backend on tfjs's own kernels (the fallback every native
// kernel keeps).
import { initBackend, type BackendName } from '../../runtime/backend.js';
import { nativeKernelsActive, setNativeKernels } from '../../runtime/perf/native-kernels.js';

export interface BackendPath {
  /** How test titles name the path: 'wasm+native', 'cpu+native', 'cpu (tfjs kernels)'. */
  label: string;
  backend: BackendName;
  native: boolean;
}

export const BACKEND_PATHS: readonly BackendPath[] = [
  { label: 'wasm+native', backend: 'wasm', native: true },
  { label: 'cpu+native', backend: 'cpu', native: true },
  { label: 'cpu (tfjs kernels)', backend: 'cpu', native: false },
];

/**
 * Mocha hooks for a describe block: start the path's backend with the native kernels on or off,
 * and switch them back on afterwards. wasm runs even without the addon (as it always did); the
 * cpu+native path is pending without it, since it would repeat the tfjs-kernel path.
 */
export function onBackendPath(path: BackendPath): void {
  before(async function () {
    await initBackend({ backend: path.backend, quiet: true });
    setNativeKernels(path.native);
    if (path.native && path.backend === 'cpu' && !nativeKernelsActive()) {
      // eslint-disable-next-line no-console
      console.log('      pending: the native addon is not loaded');
      this.skip();
    }
  });
  after(() => setNativeKernels(true));
}
