import { z } from 'zod';

/**
 * CloudEvents 1.0 envelope carried on the bus. WIRE FORMAT: never rename or
 * remove a field; add optional ones only.
 */
export const envelopeSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(128),
  source: z.string().min(1).max(256),
  type: z.string().regex(/^[a-z_]+(\.[a-z_]+)+\.v\d+$/),
  time: z.string().datetime({ offset: true }),
  datacontenttype: z.literal('application/json'),
  correlationid: z.string().min(1).max(128).optional(),
  traceparent: z
    .string()
    .regex(/^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/)
    .optional(),
  /** Names of `data` paths whose values travel encrypted (see libs/messaging). */
  sensitive: z.array(z.string()).optional(),
  data: z.unknown(),
});

export type Envelope<T = unknown> = Omit<z.infer<typeof envelopeSchema>, 'data'> & { data: T };
