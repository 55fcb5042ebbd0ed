// An error the user can act on: printed as `ldmc: error: message` plus `help: hint`, exit 1;
// with a stable `code` (e.g. a weights-file fault, runtime/weights/faults.ts) as `ldmc: error[CODE]: message`.
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly code?: string,
  ) {
    super(message);
  }
}
