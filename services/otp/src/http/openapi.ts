import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiResponse } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ERROR_CODES, type ErrorCode } from '@phonegate/contracts';
import { z } from 'zod';

/** Documents a zod-validated body in the OpenAPI document (one source: the schema). */
export function ApiZodBody(schema: z.ZodType) {
  return ApiBody({
    schema: z.toJSONSchema(schema, {
      target: 'openapi-3.0',
      io: 'input',
      unrepresentable: 'any',
    }) as SchemaObject,
  });
}

/** Documents a route's success and its problem+json answers by their stable codes. */
export function ApiAnswers(
  success: { status: number; description: string },
  ...codes: ErrorCode[]
) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes)
    byStatus.set(ERROR_CODES[code], [...(byStatus.get(ERROR_CODES[code]) ?? []), code]);
  return applyDecorators(
    ApiResponse(success),
    ...[...byStatus.entries()].map(([status, list]) =>
      ApiResponse({ status, description: `application/problem+json, code ${list.join(' | ')}` }),
    ),
  );
}
