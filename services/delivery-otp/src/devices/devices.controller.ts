import { Body, Controller, Delete, Header, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scopes, ZodPipe, zodBody } from '@phonegate/platform';
import { z } from 'zod';
import { shipmentRef } from '../shipments/shipments.schemas';
import { DevicesService } from './devices.service';

const deviceBody = z.object({ name: z.string().min(1).max(100).optional() }).optional();

/** Ops: courier devices and their secrets. */
@ApiTags('courier devices (ops)')
@ApiBearerAuth()
@Controller('v1/couriers')
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Post(':courierId/devices')
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  @Scopes('ops')
  @ApiOperation({ summary: 'Issue a device secret (shown once); the device presents it as its Bearer key' })
  register(@Param('courierId', new ZodPipe(shipmentRef)) courierId: string, @Body(zodBody(deviceBody)) body: z.infer<typeof deviceBody>) {
    return this.devices.register(courierId, body?.name ?? null);
  }

  @Delete(':courierId/devices/:deviceId')
  @HttpCode(204)
  @Scopes('ops')
  @ApiOperation({ summary: 'Revoke a device secret (other replicas stop accepting it within the lookup cache TTL)' })
  async revoke(@Param('courierId', new ZodPipe(shipmentRef)) courierId: string, @Param('deviceId', new ZodPipe(shipmentRef)) deviceId: string) {
    await this.devices.revoke(courierId, deviceId);
  }
}
