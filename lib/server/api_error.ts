/**
 * Errors in OpenAI's shape: every failed request answers with a status and the body
 * `{"error": {"message", "type", "param", "code"}}`, so OpenAI clients raise their usual
 * exceptions (`BadRequestError`, `AuthenticationError`, …) with our message.
 *
 * @example
 * ```ts
 * import { ApiError, errorResponse } from "./api_error.ts";
 *
 * const response = errorResponse(
 *   ApiError.badRequest("temperature: expected a number from 0 to 2, found \"hot\"", "temperature"),
 * );
 * console.log(response.status); // 400
 * ```
 *
 * @module
 */

/** OpenAI's error `type` values that this server uses. */
export type ApiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "server_error";

/** A request that cannot be served, with the HTTP status and OpenAI error fields. */
export class ApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** OpenAI error type. */
  readonly type: ApiErrorType;
  /** The request field at fault (`"messages[1].role"`), or null. */
  readonly param: string | null;
  /** A machine-readable code (`"context_length_exceeded"`), or null. */
  readonly code: string | null;
  /** Extra response headers (`Allow`, `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * @param status HTTP status.
   * @param message One sentence for the user: what was expected, what was found.
   * @param fields OpenAI `type`, `param`, `code`, and extra headers.
   */
  constructor(
    status: number,
    message: string,
    fields: {
      type?: ApiErrorType;
      param?: string | null;
      code?: string | null;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.status = status;
    this.type = fields.type ?? "invalid_request_error";
    this.param = fields.param ?? null;
    this.code = fields.code ?? null;
    this.headers = fields.headers ?? {};
  }

  /**
   * A 400 about one request field.
   *
   * @param message What was expected and found.
   * @param param The field (`"max_tokens"`).
   * @param code A code, if any.
   * @returns The error.
   */
  static badRequest(message: string, param: string | null, code?: string): ApiError {
    return new ApiError(400, message, { param, code: code ?? null });
  }
}

/**
 * The JSON body of an error.
 *
 * @param error The error.
 * @returns `{ error: { message, type, param, code } }`.
 */
export function errorBody(error: ApiError): { error: Record<string, string | null> } {
  return {
    error: { message: error.message, type: error.type, param: error.param, code: error.code },
  };
}

/**
 * The HTTP response of an error.
 *
 * @param error The error.
 * @returns A JSON response with the error's status and headers.
 */
export function errorResponse(error: ApiError): Response {
  return Response.json(errorBody(error), { status: error.status, headers: error.headers });
}
