import { z } from 'zod';

/**
 * A carrier's behaviour knobs (SimBehaviour), each optional: what the configuration may set and
 * what `PATCH /_sim/carriers/:name` may change at run time (strict there: an unknown knob is
 * refused). One schema for both, so a knob is added once.
 */
export const behaviourSchema = z
  .object({
    latencyMs: z.number().int().min(0).max(600_000),
    errorRate: z.number().min(0).max(1),
    throttle: z.union([z.boolean(), z.number().int().min(0)]),
    down: z.boolean(),
    receiptDelayMs: z.number().int().min(0).max(600_000),
    receiptStatus: z.enum(['delivered', 'undelivered', 'failed', 'expired']),
    invalidPrefixes: z.array(z.string().min(1).max(100)).max(100),
    cancellable: z.boolean(),
    refuseSegment: z.union([
      z.literal(false),
      z.object({
        segment: z.number().int().min(1).max(255),
        status: z.enum(['invalid', 'throttled']),
      }),
    ]),
    interimReceipt: z.union([
      z.literal(false),
      z.object({
        stat: z.string().regex(/^[A-Z]{1,10}$/),
        messageState: z.number().int().min(0).max(255).optional(),
      }),
    ]),
    segmentReceiptStatus: z.union([
      z.literal(false),
      z.object({
        segment: z.number().int().min(1).max(255),
        status: z.enum(['delivered', 'undelivered', 'failed', 'expired']),
      }),
    ]),
    receiptCopies: z.number().int().min(1).max(5),
    receiptBeforeResponse: z.boolean(),
    sameSegmentIds: z.boolean(),
  })
  .partial();
