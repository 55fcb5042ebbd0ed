// An error the user can act on: printed as `ldmc: error: message` plus `help: hint`, exit 1.
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
