// LDMC_KERNEL_PROFILE=1 (runtime/perf/kernel-profile.ts), in a process of its own since the switch
// is read once at import: a small conv + matmul on the cpu backend, then the table. With the addon
// loaded, the conv and the product are native (no fallback time); the reshape is tfjs's own.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../support/reference.js';

const dist = (p: string) => pathToFileURL(join(repoRoot, 'dist', p)).href;

const script = `
import * as tf from '@tensorflow/tfjs-core';
const { initBackend } = await import(${JSON.stringify(dist('runtime/backend.js'))});
const { nativeKernelsActive } = await import(${JSON.stringify(dist('runtime/perf/native-kernels.js'))});
const prof = await import(${JSON.stringify(dist('runtime/perf/kernel-profile.js'))});
await initBackend({ backend: 'cpu', quiet: true });
const x = tf.randomNormal([2, 32, 32, 16], 0, 1, 'float32', 1), w = tf.randomNormal([3, 3, 16, 16], 0, 1, 'float32', 2);
tf.conv2d(x, w, 1, 'same').dataSync();
tf.matMul(tf.reshape(x, [128, 256]), tf.randomNormal([256, 64], 0, 1, 'float32', 3)).dataSync();
process.stdout.write(JSON.stringify({ on: prof.kernelProfileOn, native: nativeKernelsActive(), rows: prof.kernelProfile(), table: prof.formatKernelProfile(5) }));
`;

interface Row { name: string; calls: number; ms: number; fallbackCalls: number; wrapped: boolean }

function runProfiled(env: Record<string, string | undefined>): { on: boolean; native: boolean; rows: Row[]; table: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120000 });
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout) as { on: boolean; native: boolean; rows: Row[]; table: string };
}

describe('runtime/perf: the per-kernel profile (LDMC_KERNEL_PROFILE)', function () {
  this.timeout(180000);

  it('off by default: nothing is timed', function () {
    const r = runProfiled({ LDMC_KERNEL_PROFILE: undefined });
    expect(r.on).to.equal(false);
    expect(r.rows).to.deep.equal([]);
  });

  it('on: every kernel that ran has a row; native kernels spend nothing in their fallback', function () {
    const r = runProfiled({ LDMC_KERNEL_PROFILE: '1' });
    expect(r.on).to.equal(true);
    const row = (n: string) => r.rows.find((x) => x.name === n);
    for (const n of ['Conv2D', 'BatchMatMul', 'Reshape']) expect(row(n)?.calls, n).to.be.greaterThan(0);
    expect(row('Reshape')!.wrapped).to.equal(false);
    expect(row('Reshape')!.fallbackCalls).to.equal(row('Reshape')!.calls);
    if (!r.native) this.skip(); // no addon on this machine: Conv2D is tfjs's own
    expect(row('Conv2D')!.wrapped).to.equal(true);
    expect(row('Conv2D')!.fallbackCalls).to.equal(0);
    expect(r.table.split('\n')[0]).to.match(/^kernel\s+calls\s+ms/);
  });
});
