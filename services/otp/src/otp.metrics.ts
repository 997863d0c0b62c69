import type { MetricsService } from '@phonegate/platform';

/**
 * The otp service's metrics. Labels carry purposes, channels, outcomes and
 * number prefixes (a few leading digits, never a whole number), never a code.
 */
export class OtpMetrics {
  readonly issued;
  readonly checks;
  readonly refused;
  readonly pumpingSignals;
  readonly prefixRatio;
  readonly deliveryOutcomes;
  readonly publishFailures;
  readonly codeSendFailures;
  readonly factorChecks;

  constructor(metrics: MetricsService) {
    this.issued = metrics.counter(
      'otp_codes_issued_total',
      'Codes issued (first sends and resends)',
      ['purpose', 'channel', 'kind'],
    );
    this.checks = metrics.counter('otp_checks_total', 'Code checks by outcome', [
      'purpose',
      'outcome',
    ]);
    this.refused = metrics.counter(
      'otp_sends_refused_total',
      'Sends refused before any carrier call',
      ['reason'],
    );
    this.pumpingSignals = metrics.counter(
      'otp_pumping_signals_total',
      'SMS-pumping signals raised (a prefix or block quarantined)',
      ['signal'],
    );
    this.prefixRatio = metrics.gauge(
      'otp_prefix_verified_ratio',
      'Verified-to-sent ratio of a number prefix over the ratio window',
      ['prefix'],
    );
    this.deliveryOutcomes = metrics.counter(
      'otp_delivery_outcomes_total',
      'Failed or dropped code messages reported by the notifier',
      ['outcome', 'channel', 'fallback'],
    );
    this.publishFailures = metrics.counter(
      'otp_event_publish_failures_total',
      'Events that could not be published',
      ['type'],
    );
    this.codeSendFailures = metrics.counter(
      'otp_code_send_failures_total',
      'Code messages whose publish failed: not_sent (certainly never reached the broker) or uncertain (it may have)',
      ['outcome'],
    );
    this.factorChecks = metrics.counter(
      'otp_factor_checks_total',
      'TOTP and backup-code checks by outcome',
      ['kind', 'outcome'],
    );
  }
}
