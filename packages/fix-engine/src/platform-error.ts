/** A failure of the platform rather than of the repository: worth retrying. */
export class PlatformError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PlatformError';
  }
}
