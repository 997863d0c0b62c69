import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../auth/api-key.guard';
import { MetricsService } from '../metrics/metrics.service';
import { HealthRegistry } from './health.registry';

const CHECK_TIMEOUT_MS = 2_000;

@ApiExcludeController()
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly registry: HealthRegistry,
    private readonly metrics: MetricsService,
  ) {}

  /** The process is up and its event loop turns. */
  @Get('health/live')
  live() {
    return { status: 'ok' };
  }

  /** Ready to take traffic: every dependency answers, and not draining. */
  @Get('health/ready')
  @HealthCheck()
  ready() {
    if (this.registry.isDraining()) throw new ServiceUnavailableException('draining');
    return this.health.check(
      this.registry.list().map((c) => async () => {
        const session = this.indicators.check(c.name);
        try {
          await withTimeout(c.check(), CHECK_TIMEOUT_MS);
          return session.up();
        } catch (error) {
          return session.down({ message: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
  }

  @Get('metrics')
  @Header('cache-control', 'no-store')
  async render() {
    const { body } = await this.metrics.render();
    return body;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
