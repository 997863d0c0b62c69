import { type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';

/** Validates a body, query or param with a zod schema; failures become 422 problems. */
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): z.infer<S> {
    return this.schema.parse(value ?? {});
  }
}

export function zodBody<S extends z.ZodType>(schema: S): ZodPipe<S> {
  return new ZodPipe(schema);
}
