import { Body, Controller, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scopes, ZodPipe, zodBody } from '@phonegate/platform';
import type { z } from 'zod';
import { accountQuery, regenerateBody, shipmentRef } from './shipments.schemas';
import { RegenerateCode } from './usecases/regenerate-code';
import { ShowCode } from './usecases/show-code';

/** The storefront, for the customer's app: show the code, or ask for a new one. */
@ApiTags('shipments (customer)')
@ApiBearerAuth()
@Controller('v1/shipments')
export class CustomerCodeController {
  constructor(
    private readonly show: ShowCode,
    private readonly regenerate: RegenerateCode,
  ) {}

  @Get(':shipmentId/code')
  @Header('Cache-Control', 'no-store')
  @Scopes('storefront')
  @ApiOperation({ summary: "The live code for the customer's app (the account must match)" })
  code(@Param('shipmentId', new ZodPipe(shipmentRef)) shipmentId: string, @Query(new ZodPipe(accountQuery)) query: z.infer<typeof accountQuery>) {
    return this.show.execute(shipmentId, query.accountId);
  }

  @Post(':shipmentId/code/regenerate')
  @HttpCode(200)
  @Scopes('storefront')
  @ApiOperation({ summary: 'A new code; the old one stops at once; sent again by SMS. `accountId` (body or query), when given, must match' })
  regenerateCode(
    @Param('shipmentId', new ZodPipe(shipmentRef)) shipmentId: string,
    @Body(zodBody(regenerateBody)) body: z.infer<typeof regenerateBody>,
    @Query(new ZodPipe(regenerateBody)) query: z.infer<typeof regenerateBody>,
  ) {
    return this.regenerate.execute(shipmentId, body?.accountId ?? query?.accountId);
  }
}
