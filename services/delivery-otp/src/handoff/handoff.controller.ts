import { Body, Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DomainError, principalOf, requestContext, Scopes, ZodPipe, zodBody } from '@phonegate/platform';
import type { FastifyRequest } from 'fastify';
import { cancelBody, shipmentRef } from '../shipments/shipments.schemas';
import { type HandoffBody, handoffBody } from './handoff.schemas';
import { ConfirmHandoff } from './usecases/confirm-handoff';
import { UnlockHandoff } from './usecases/unlock-handoff';

@ApiTags('handoff')
@ApiBearerAuth()
@Controller('v1/shipments')
export class HandoffController {
  constructor(
    private readonly confirm: ConfirmHandoff,
    private readonly unlockHandoff: UnlockHandoff,
  ) {}

  @Post(':shipmentId/handoff')
  @HttpCode(200)
  @Scopes('courier')
  @ApiOperation({ summary: "Confirm the handoff at the door (a courier device's secret as the Bearer key)" })
  handoff(
    @Param('shipmentId', new ZodPipe(shipmentRef)) shipmentId: string,
    @Body(zodBody(handoffBody)) body: HandoffBody,
    @Req() request: FastifyRequest,
  ) {
    const principal = principalOf(request);
    if (principal?.kind !== 'device' || !principal.courierId) {
      throw new DomainError('forbidden', 'Only a courier device may confirm a handoff.');
    }
    const idempotencyKey = request.headers['idempotency-key'];
    return this.confirm.execute({ deviceId: principal.id, courierId: principal.courierId }, shipmentId, body, {
      requestId: requestContext.get()?.requestId ?? null,
      idempotencyKey: typeof idempotencyKey === 'string' && idempotencyKey.length > 0 ? idempotencyKey : null,
    });
  }

  @Post(':shipmentId/unlock')
  @HttpCode(200)
  @Scopes('ops')
  @ApiOperation({ summary: 'Support: unlock a handoff locked by wrong codes' })
  unlock(@Param('shipmentId', new ZodPipe(shipmentRef)) shipmentId: string, @Body(zodBody(cancelBody)) _body: unknown) {
    return this.unlockHandoff.execute(shipmentId);
  }
}
