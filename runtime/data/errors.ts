// Data errors: every bad input names the file it came from and says what to do about it.

/** Plain-data form of a DataError, as it crosses from a loader worker to the main thread. */
export interface DataErrorData {
  readonly reason: string;
  readonly file: string | null;
  readonly hint: string | null;
}

/**
 * A dataset or loader failure: a corrupt or missing file, a wrong IDX header, images of mixed
 * sizes, an empty dataset, an unknown target. `file` is the offending file (null for a config
 * error), `reason` says what is wrong with it and `hint` what to do.
 */
export class DataError extends Error {
  override readonly name = 'DataError';
  readonly reason: string;
  readonly file: string | null;
  readonly hint: string | null;

  constructor(reason: string, file: string | null = null, hint: string | null = null) {
    super(`${file ? `${file}: ` : ''}${reason}${hint ? `\n  hint: ${hint}` : ''}`);
    this.reason = reason;
    this.file = file;
    this.hint = hint;
  }

  toData(): DataErrorData {
    return { reason: this.reason, file: this.file, hint: this.hint };
  }

  static fromData(d: DataErrorData): DataError {
    return new DataError(d.reason, d.file, d.hint);
  }
}

/** Wraps any error thrown while reading `file` in a DataError naming it (DataErrors pass through). */
export function asDataError(e: unknown, file: string | null, hint: string | null = null): DataError {
  if (e instanceof DataError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new DataError(msg, file, hint);
}
