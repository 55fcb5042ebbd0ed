#!/usr/bin/env node
// Regenerates everything under generated/ and the JSON Schema, with the built CLI (npm run generate).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

/** Standalone examples, then variants: a base config plus an override file, under their own name. */
const jobs = readdirSync('examples')
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => ['compile', `examples/${f}`]);
for (const f of readdirSync('examples/variants').filter((f) => f.endsWith('.yaml')).sort()) {
  jobs.push(['compile', 'examples/celeba256.yaml', `examples/variants/${f}`, '--name', f.replace(/\.yaml$/, '')]);
}
jobs.push(['schema', '--out', 'schema/ldmc.schema.json']);
jobs.push(['schema', '--plugin', 'examples/plugins/textual-inversion.ts', '--out', 'examples/plugins/ldmc.schema.json']);

for (const args of jobs) {
  const r = spawnSync(process.execPath, ['bin/ldmc.js', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    console.error(`ldmc ${args.join(' ')} failed (exit ${r.status})`);
    process.exit(1);
  }
  console.log(`ldmc ${args.join(' ')}`);
}
