import { type ArgumentsHost, Catch, type RpcExceptionFilter } from '@nestjs/common';
import { type Observable, throwError } from 'rxjs';

/**
 * Hands bus handler errors to RabbitMqServer unchanged, so a DomainError keeps
 * its code and `retryable` (Nest's default RPC filter would replace it with
 * `{ status: 'error' }`). Register it on the microservice
 * (`microservice.useGlobalFilters(new BusExceptionFilter())` before listen), or
 * rely on a global filter that rethrows non-HTTP errors (platform's ProblemFilter
 * with `inheritAppConfig: true`).
 */
@Catch()
export class BusExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
