#!/usr/bin/env node
// Runs a command and prefixes each of its output lines with the seconds since it started, then
// prints the whole wall time: where a `ldmc sample` run spends its time (the "ldmc: weights"
// line marks the end of loading). Usage: node bench/scale/timed.mjs CMD ARGS...
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const t0 = performance.now();
const child = spawn(process.argv[2], process.argv.slice(3), { stdio: ['ignore', 'pipe', 'pipe'] });
const stamp = (stream, out) => createInterface({ input: stream }).on('line', (l) => out.write(`[${((performance.now() - t0) / 1000).toFixed(2)} s] ${l}\n`));
stamp(child.stdout, process.stdout);
stamp(child.stderr, process.stderr);
child.on('close', (code) => {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(2)} s] exit ${code}\n`);
  process.exitCode = code ?? 1;
});
