// A child process for the crash test (run from dist/): writes checkpoints in a loop until it is
// killed. Every tensor of checkpoint N holds the value N, so the test can tell a torn checkpoint
// from a whole one.
import { saveCheckpoint } from '../../runtime/train/checkpoint.js';

const runDir = process.argv[2]!;
const big = 4_000_000; // 16 MB a file: a write takes long enough to be cut
for (let step = 1; ; step++) {
  const fill = (n: number) => new Float32Array(n).fill(step);
  const model = new Map([['w', { shape: [big], data: fill(big) }]]);
  const train = new Map([['optimizer.exp_avg.w', { shape: [big], data: fill(big) }]]);
  saveCheckpoint(runDir, model, train, { step, epoch: 0, batchInEpoch: step, seed: 1, configHash: 'x', extra: {} });
  if (step === 2) process.stdout.write('ready\n');
}
