#!/usr/bin/env node
// The compiled CLI lives in dist/: built by `npm install` in a clone (prepare), shipped built in the
// package tarball (npm pack runs prepare too).
import { main } from '../dist/cli/main.js';

// `ldmc schema | head`: the reader left; stop quietly instead of a stack trace for EPIPE.
const guard = (s) => {
  s.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  return s;
};
// Node sets a stream up on first use of process.stdout/stderr, which costs a few milliseconds: a
// clean `ldmc check` prints nothing, so the guard goes on when a stream is first used, not before.
for (const name of ['stdout', 'stderr']) {
  const d = Object.getOwnPropertyDescriptor(process, name);
  if (!d?.configurable || !d.get) {
    guard(process[name]);
    continue;
  }
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: d.enumerable,
    get() {
      const s = guard(d.get.call(process));
      Object.defineProperty(process, name, { configurable: true, enumerable: d.enumerable, writable: false, value: s });
      return s;
    },
  });
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
