/**
 * The sidebar's errors and the one way to turn any failure into a sentence.
 *
 * `InvokerNetworkError`: the server could not be reached. `InvokerResponseError`: it
 * answered with an error status; `message` is the server's own sentence. No DOM and
 * no JupyterLab import here, so the model (and its unit tests) can use it.
 */

/** The server could not be reached (offline, stopped, a proxy in between). */
export class InvokerNetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvokerNetworkError';
  }
}

/** The server answered with an error status; `message` is its explanation. */
export class InvokerResponseError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'InvokerResponseError';
    this.status = status;
  }
}

/** What to show for a failure: an Error's message, or the thrown value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
