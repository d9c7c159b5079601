/** A failure a client may see: a stable code, an HTTP status and a message (4xx only). */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** Codes of the HTTP layer itself. */
export const HttpErrors = {
  validation: (m: string) => new AppError('E_VALIDATION', 400, m),
  notFound: (m = 'not found') => new AppError('E_NOT_FOUND', 404, m),
  rateLimited: (m = 'too many requests') => new AppError('E_RATE_LIMITED', 429, m),
} as const;
