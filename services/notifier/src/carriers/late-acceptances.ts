import type { Logger } from '@phonegate/platform';
import type { LateAcceptance, LateAcceptanceListener } from './carrier.types';

/** A carrier's late-acceptance listeners: each hears every report; one that throws is logged. */
export class LateAcceptances {
  private readonly listeners: LateAcceptanceListener[] = [];

  constructor(private readonly logger: Logger) {}

  on(listener: LateAcceptanceListener): void {
    this.listeners.push(listener);
  }

  report(late: LateAcceptance): void {
    for (const listener of this.listeners) {
      try {
        listener(late);
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'late acceptance listener failed');
      }
    }
  }
}
