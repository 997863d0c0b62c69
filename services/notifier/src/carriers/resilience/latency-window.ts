/**
 * The last N call outcomes of a carrier, for `snapshot()`: latency percentiles and error rate
 * over recent traffic (not since start).
 */
export class LatencyWindow {
  private readonly latencies: number[] = [];
  private readonly failures: boolean[] = [];
  private next = 0;

  constructor(private readonly size = 200) {}

  record(latencyMs: number, failed: boolean): void {
    if (this.latencies.length < this.size) {
      this.latencies.push(latencyMs);
      this.failures.push(failed);
    } else {
      this.latencies[this.next] = latencyMs;
      this.failures[this.next] = failed;
    }
    this.next = (this.next + 1) % this.size;
  }

  get count(): number {
    return this.latencies.length;
  }

  /** Nearest-rank percentile (0 < p ≤ 100) of the recorded latencies; undefined when empty. */
  percentile(p: number): number | undefined {
    if (!this.latencies.length) return undefined;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
    return sorted[rank - 1];
  }

  /** Share of failed calls, 0..1; 0 when empty. */
  errorRate(): number {
    if (!this.failures.length) return 0;
    return this.failures.filter(Boolean).length / this.failures.length;
  }
}
