import { Injectable } from '@nestjs/common';

export interface HealthCheck {
  name: string;
  /** Resolves when healthy; throws (or rejects) with a short reason otherwise. */
  check(): Promise<void>;
}

/** Modules register the dependencies readiness depends on (Redis, PostgreSQL, RabbitMQ). */
@Injectable()
export class HealthRegistry {
  private readonly checks: HealthCheck[] = [];
  private draining = false;

  register(check: HealthCheck): void {
    this.checks.push(check);
  }

  list(): readonly HealthCheck[] {
    return this.checks;
  }

  /** After SIGTERM readiness fails so load balancers stop sending traffic. */
  markDraining(): void {
    this.draining = true;
  }

  isDraining(): boolean {
    return this.draining;
  }
}
