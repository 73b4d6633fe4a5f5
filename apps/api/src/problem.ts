import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from '@ci-fixer/logger';

/** An error that becomes an RFC 9457 problem document with its own status. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly title: string;
  readonly extra: Record<string, unknown>;
  /** Headers the answer carries, e.g. Retry-After. */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    title: string,
    detail: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(detail);
    this.status = status;
    this.title = title;
    this.extra = extra;
    this.headers = headers;
  }
}

export function sendProblem(
  res: Response,
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): void {
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ type: 'about:blank', title, status, detail, ...extra }));
}

export const notFound: RequestHandler = (req, res) => {
  sendProblem(res, 404, 'Not Found', `no route for ${req.method} ${req.path}`);
};

// body-parser marks its errors with a `type`; each gets a status and words a caller can act on.
const BODY_ERRORS: Record<string, [number, string, string]> = {
  'entity.parse.failed': [400, 'Malformed JSON', 'the request body is not valid JSON'],
  'entity.too.large': [413, 'Payload Too Large', 'the request body exceeds the size limit'],
  'encoding.unsupported': [415, 'Unsupported Encoding', 'the request body encoding is not supported'],
  'charset.unsupported': [415, 'Unsupported Charset', 'send the body as UTF-8'],
  'request.aborted': [400, 'Request Aborted', 'the client aborted the request'],
};

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (error instanceof HttpProblem) {
      for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
      sendProblem(res, error.status, error.title, error.message, error.extra);
      return;
    }
    const { type, code, status, expose } = error as {
      type?: string;
      code?: unknown;
      status?: unknown;
      expose?: unknown;
    };
    const bodyError = BODY_ERRORS[type ?? ''];
    if (bodyError) {
      sendProblem(res, ...bodyError);
      return;
    }
    // A body whose Content-Encoding (gzip, deflate, br) does not decode fails in zlib, with no `type`.
    if (typeof code === 'string' && code.startsWith('Z_')) {
      sendProblem(
        res,
        400,
        'Malformed Body',
        `the request body does not decode as its Content-Encoding says (${(error as Error).message}); send it uncompressed or compress it whole`,
      );
      return;
    }
    // The router decodes path parameters; `%ff` or a lone `%` is not a percent-encoding.
    if (error instanceof URIError) {
      sendProblem(
        res,
        400,
        'Invalid Path',
        `the request path is not validly percent-encoded (${error.message}); encode it as UTF-8`,
      );
      return;
    }
    // Any other client error a parser raised (http-errors marks those it may show).
    if (expose === true && typeof status === 'number' && status >= 400 && status < 500) {
      sendProblem(res, status, STATUS_CODES[status] ?? 'Bad Request', (error as Error).message);
      return;
    }
    logger.error('request failed', { method: req.method, path: req.path, error });
    sendProblem(res, 500, 'Internal Server Error', 'the server failed to handle the request; see its log');
  };
}
