#!/usr/bin/env node
// Builds celeba256's UNet and VQ first stage with real (random) initialisation on the cpu backend
// and reports the time, the runtime's parameter counts (against the static ones) and the memory.
// Run by `node bench/run.js --only build`; prints one JSON line.
import { existsSync, readFileSync } from 'node:fs';
import { compile } from '../dist/compiler/program.js';
import { initBackend } from '../dist/runtime/backend.js';
import { buildComponent } from '../dist/runtime/build.js';

await initBackend({ backend: 'cpu', quiet: true });
const r = compile({ files: ['examples/celeba256.yaml'] }, { readFile: (p) => readFileSync(p, 'utf8'), fileExists: existsSync });
const out = {};
for (const [name, part] of [['unet', r.inference.unet], ['first_stage', r.inference.firstStage]]) {
  const t0 = performance.now();
  const m = buildComponent(part.node.target, part.node.params);
  out[name] = { ms: Math.round(performance.now() - t0), params: m.paramCount(), static: part.facts.paramCount, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) };
  m.dispose();
}
console.log(JSON.stringify(out));
