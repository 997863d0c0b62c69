import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../errors/domain-error';
import { nulCharacterAt, nulRefusal } from './json-body';

/** Where a route's accepted body types other than JSON are kept (Fastify route config). */
const BODY_TYPES = 'bodyContentTypes';

/**
 * Lets a route take bodies of these media types besides JSON (a carrier's form-encoded status
 * callback, an HTML form's text/plain post). Every other route takes JSON only (API.md: JSON in
 * and out); see `refuseOtherBodyTypes`.
 */
export function AcceptsBodies(...mediaTypes: string[]): MethodDecorator {
  return RouteConfig({ [BODY_TYPES]: mediaTypes.map((t) => t.trim().toLowerCase()) });
}

/**
 * A Fastify preValidation hook: a body that a parser took (Nest parses form-encoded bodies and
 * Fastify text/plain ones for every route) but whose media type the route does not accept is
 * refused with 415 `unsupported_media_type` before any guard or handler runs. Media types no
 * parser knows are refused by Fastify itself (415 too). One the route takes is refused 422 when
 * a field or key holds a NUL character, as a JSON body is (no text column stores it). A request
 * no route matches passes on to the 404.
 */
export function refuseOtherBodyTypes(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void {
  const header = request.headers['content-type'];
  if (header === undefined || request.body === undefined) return done();
  const mediaType = header.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (mediaType === 'application/json') return done();
  if (request.routeOptions.url === undefined) return done(); // no route: 404, whatever the body
  const accepted = (request.routeOptions.config as { [BODY_TYPES]?: readonly string[] } | undefined)?.[BODY_TYPES];
  if (accepted?.includes(mediaType)) {
    const field = nulCharacterAt(request.body);
    return done(field === undefined ? undefined : nulRefusal(field));
  }
  done(new DomainError('unsupported_media_type', 'This route takes a JSON body: send it with content-type application/json.'));
}
