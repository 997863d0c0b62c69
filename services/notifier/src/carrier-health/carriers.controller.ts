import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scopes } from '@phonegate/platform';
import { CarrierGateway, type CarrierHealth } from './carrier-gateway';

@ApiTags('carriers')
@ApiBearerAuth()
@Controller('v1/carriers')
export class CarriersController {
  constructor(@Inject(CarrierGateway) private readonly carriers: CarrierGateway) {}

  @Get()
  @Scopes('ops')
  @ApiOperation({ summary: 'Carriers with breaker state, recent latency and error rate' })
  list(): { carriers: CarrierHealth[] } {
    return { carriers: this.carriers.health() };
  }
}
