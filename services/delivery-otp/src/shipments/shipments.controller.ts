import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scopes, ZodPipe, zodBody } from '@phonegate/platform';
import { type OutForDeliveryBody, OutForDeliveryPipe, type RescheduleBody, cancelBody, rescheduleBody, shipmentRef } from './shipments.schemas';
import { CancelShipment } from './usecases/cancel-shipment';
import { IssueCode } from './usecases/issue-code';
import { RescheduleShipment } from './usecases/reschedule-shipment';

/** Logistics: a shipment goes out for delivery, moves, or is cancelled. */
@ApiTags('shipments (logistics)')
@ApiBearerAuth()
@Controller('v1/shipments')
export class ShipmentsController {
  constructor(
    private readonly issue: IssueCode,
    private readonly reschedule: RescheduleShipment,
    private readonly cancel: CancelShipment,
  ) {}

  @Post(':shipmentId/out-for-delivery')
  @HttpCode(201)
  @Scopes('logistics')
  @ApiOperation({ summary: 'Issue the handoff code and send it to the customer (the code is never in the answer)' })
  outForDelivery(@Param('shipmentId', new ZodPipe(shipmentRef)) shipmentId: string, @Body(OutForDeliveryPipe) body: OutForDeliveryBody) {
    return this.issue.execute({ ...body, shipmentId });
  }

  @Post(':shipmentId/reschedule')
  @HttpCode(200)
  @Scopes('logistics')
  @ApiOperation({ summary: 'Move the window (and maybe the courier); the code stays valid for the new window' })
  rescheduleShipment(@Param('shipmentId', new ZodPipe(shipmentRef)) shipmentId: string, @Body(zodBody(rescheduleBody)) body: RescheduleBody) {
    return this.reschedule.execute(shipmentId, body);
  }

  @Post(':shipmentId/cancel')
  @HttpCode(200)
  @Scopes('logistics')
  @ApiOperation({ summary: 'Cancel the shipment and revoke its code' })
  cancelShipment(@Param('shipmentId', new ZodPipe(shipmentRef)) shipmentId: string, @Body(zodBody(cancelBody)) _body: unknown) {
    return this.cancel.execute(shipmentId);
  }
}
