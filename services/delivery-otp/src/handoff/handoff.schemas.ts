import { isoTime } from '@phonegate/contracts';
import { z } from 'zod';

export const handoffBody = z.object({
  /** Digits only; a code of another length is simply wrong (and counted). */
  code: z.string().regex(/^\d{1,10}$/, 'digits only'),
  /** The device's clock when the customer gave the code. */
  at: isoTime,
  location: z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) }).optional(),
});
export type HandoffBody = z.infer<typeof handoffBody>;
