/** Typed errors that the handlers' error mapper turns into HTTP responses. */
export interface FieldError {
  path: string;
  message: string;
}

export class ValidationError extends Error {
  readonly statusCode = 400;
  constructor(
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends Error {
  readonly statusCode = 404;
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export class PayloadTooLargeError extends Error {
  readonly statusCode = 413;
  constructor(message: string) {
    super(message);
    this.name = 'PayloadTooLargeError';
  }
}

export class UnsupportedMediaTypeError extends Error {
  readonly statusCode = 415;
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedMediaTypeError';
  }
}

/** The same Idempotency-Key came with a different body (other contacts or fields). */
export class IdempotencyKeyReusedError extends Error {
  readonly statusCode = 422;
  constructor(message: string) {
    super(message);
    this.name = 'IdempotencyKeyReusedError';
  }
}

/** An identical request is still being accepted by another call and did not finish in time to answer with it. */
export class DuplicateInProgressError extends Error {
  readonly statusCode = 409;
  constructor(message: string) {
    super(message);
    this.name = 'DuplicateInProgressError';
  }
}

export type ClientError =
  | ValidationError
  | NotFoundError
  | PayloadTooLargeError
  | UnsupportedMediaTypeError
  | IdempotencyKeyReusedError
  | DuplicateInProgressError;

export function isClientError(err: unknown): err is ClientError {
  return (
    err instanceof ValidationError ||
    err instanceof NotFoundError ||
    err instanceof PayloadTooLargeError ||
    err instanceof UnsupportedMediaTypeError ||
    err instanceof IdempotencyKeyReusedError ||
    err instanceof DuplicateInProgressError
  );
}

/** Every contact of a batch failed: more likely the enrichment API is down than every contact bad. */
export class EnrichmentUnavailableError extends Error {
  constructor(readonly contacts: number) {
    super(`all ${contacts} contacts of the batch failed; leaving it for redelivery (then the dead-letter queue)`);
    this.name = 'EnrichmentUnavailableError';
  }
}

/** The worker's time ran out before every contact was settled; the progress is kept for the redelivery. */
export class BatchOutOfTimeError extends Error {
  constructor(
    readonly settled: number,
    readonly pending: number,
  ) {
    super(
      `out of time with ${pending} contacts still to try (${settled} settled and kept); leaving the batch for redelivery`,
    );
    this.name = 'BatchOutOfTimeError';
  }
}

/** The circuit breaker is open (the enrichment API keeps failing): the progress is kept and the batch handed back. */
export class EnrichmentPausedError extends Error {
  constructor(
    readonly settled: number,
    readonly pending: number,
  ) {
    super(
      `the enrichment API keeps failing (circuit open) with ${pending} contacts still to try (${settled} settled and kept); leaving the batch for redelivery`,
    );
    this.name = 'EnrichmentPausedError';
  }
}
