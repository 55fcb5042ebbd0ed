#!/usr/bin/env node
// The compiled CLI lives in dist/: built by `npm install` in a clone (prepare), shipped built in the
// package tarball (npm pack runs prepare too).
import { main } from '../dist/cli/main.js';

// `ldmc schema | head`: the reader left; stop quietly instead of a stack trace for EPIPE.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
