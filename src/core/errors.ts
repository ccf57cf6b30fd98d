/**
 * The service's errors: one base class, EnrichmentError, whose `kind` says what went wrong in the domain's words.
 * Core knows nothing of HTTP: the HTTP edge (src/handlers/http.ts) maps each client kind to its status. A subclass
 * exists only where an error carries data of its own (and code tells it apart with instanceof).
 */
export interface FieldError {
  path: string;
  message: string;
}

/** A request the caller can fix or retry: answered with its message (and, for invalid_request, its field errors). */
export type ClientErrorKind =
  | 'invalid_request'
  | 'not_found'
  // A request past its expiresAt: its outputs are deleted (or about to be).
  | 'gone'
  | 'payload_too_large'
  | 'unsupported_media_type'
  // The same Idempotency-Key came with a different body (other contacts or fields).
  | 'idempotency_key_reused'
  // An identical request is still being accepted by another call and did not finish in time to answer with it.
  | 'duplicate_in_progress'
  // The request is final: it cannot be cancelled any more (src/core/cancel.ts).
  | 'request_final';

/** A batch the worker hands back for redelivery (then the dead-letter queue); never an HTTP answer. */
export type BatchErrorKind = 'enrichment_unavailable' | 'batch_out_of_time' | 'enrichment_paused';

/**
 * Failures inside one use case that it handles itself (retries, hands back, or turns into a rejection): never an
 * HTTP answer either.
 */
export type InternalErrorKind =
  // The enrichment API answered a status that is not a success (src/core/retry.ts HttpError).
  | 'provider_http'
  // The enrichment API did not answer in time.
  | 'provider_timeout'
  // The batch may make no more calls (its call budget is spent, or the provider gate is open), or a 429 paused them.
  | 'calls_stopped'
  // The invocation's time ran out between attempts.
  | 'out_of_time'
  // An uploaded file is not of its format (src/core/inputFile.ts InputParseError).
  | 'input_unparseable';

export type ErrorKind = ClientErrorKind | BatchErrorKind | InternalErrorKind;

export class EnrichmentError<K extends ErrorKind = ErrorKind> extends Error {
  readonly kind: K;
  constructor(message: string, options: ErrorOptions & { kind: K }) {
    // Error reads only `cause` from the options (and sets it only if present).
    super(message, options);
    this.name = 'EnrichmentError';
    this.kind = options.kind;
  }
}

/** A request that is not valid, with what is wrong in it (field paths); an empty list means the body as a whole. */
export class ValidationError extends EnrichmentError<'invalid_request'> {
  constructor(
    message: string,
    readonly errors: FieldError[] = [],
    options?: ErrorOptions,
  ) {
    super(message, { ...options, kind: 'invalid_request' });
    this.name = 'ValidationError';
  }
}

/** Every contact of a batch failed: more likely the enrichment API is down than every contact bad. */
export class EnrichmentUnavailableError extends EnrichmentError<'enrichment_unavailable'> {
  constructor(readonly contacts: number) {
    super(`all ${contacts} contacts of the batch failed; leaving it for redelivery (then the dead-letter queue)`, {
      kind: 'enrichment_unavailable',
    });
    this.name = 'EnrichmentUnavailableError';
  }
}

/** The worker's time ran out before every contact was settled; the progress is kept for the redelivery. */
export class BatchOutOfTimeError extends EnrichmentError<'batch_out_of_time'> {
  constructor(
    readonly settled: number,
    readonly pending: number,
  ) {
    super(
      `out of time with ${pending} contacts still to try (${settled} settled and kept); leaving the batch for redelivery`,
      { kind: 'batch_out_of_time' },
    );
    this.name = 'BatchOutOfTimeError';
  }
}

/**
 * The provider gate is open (the enrichment API keeps failing, its credits are spent, it asked to wait) or the rate
 * limiter had no tokens, and the batch could not be held: the progress is kept and the batch handed back.
 */
export class EnrichmentPausedError extends EnrichmentError<'enrichment_paused'> {
  constructor(
    readonly settled: number,
    readonly pending: number,
  ) {
    super(
      `the enrichment API keeps failing (circuit open) with ${pending} contacts still to try (${settled} settled and kept); leaving the batch for redelivery`,
      { kind: 'enrichment_paused' },
    );
    this.name = 'EnrichmentPausedError';
  }
}
