// Ctrl-C for the long-running commands. The work itself only sees an AbortSignal (library code
// leaves its process alone); here the first SIGINT aborts it, so it can stop cleanly (train
// writes a checkpoint), and a second SIGINT leaves at once.

/** The shell's exit status for a process stopped by SIGINT (128 + 2). */
export const EXIT_INTERRUPTED = 130;

/**
 * Runs `work` with a signal that the first SIGINT aborts (after logging `notice`); a second
 * SIGINT exits with status 130 at once. The handler is removed when `work` settles.
 */
export async function onInterrupt<T>(notice: string, log: (s: string) => void, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
    log(notice);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
