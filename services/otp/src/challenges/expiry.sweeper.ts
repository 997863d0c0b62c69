import type { Logger } from '@phonegate/platform';
import type { ChallengeService } from './challenge.service';

/**
 * Publishes `otp.challenge.expired.v1` for challenges nobody touched after
 * their expiry. Each expired challenge is claimed in a Lua script, so several
 * replicas sweeping at once publish each expiry once.
 */
export class ExpirySweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly challenges: ChallengeService,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer || this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  tick(): Promise<void> {
    this.running ??= (async () => {
      try {
        while ((await this.challenges.sweepExpired()) > 0) {
          // More than one batch was due: keep going.
        }
      } catch (error) {
        this.logger.warn({ err: error }, 'expiry sweep failed');
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}
