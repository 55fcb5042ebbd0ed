// A process that runs work under the CLI's Ctrl-C handling (cli/interrupt.ts), for
// interrupt.test.ts: `finish` ends the work when aborted, `stuck` keeps working after the abort.
import { onInterrupt } from '../../cli/interrupt.js';

const mode = process.argv[2];
const say = (s: string) => void process.stdout.write(s + '\n');
const code = await onInterrupt('notice: stopping', say, (signal) => new Promise<number>((resolve) => {
  const busy = setInterval(() => {}, 1000);
  signal.addEventListener('abort', () => {
    say('aborted');
    if (mode === 'finish') {
      clearInterval(busy);
      resolve(7);
    }
  });
  say('ready');
}));
say(`done, SIGINT listeners ${process.listenerCount('SIGINT')}`);
process.exitCode = code;
