import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scopes, zodBody } from '@phonegate/platform';
import {
  type NotificationBody,
  notificationBody,
  RequestNotification,
} from './request-notification';

@ApiTags('notifications')
@ApiBearerAuth()
@Controller('v1/notifications')
export class NotificationsController {
  constructor(
    @Inject(RequestNotification) private readonly requestNotification: RequestNotification,
  ) {}

  @Post()
  @HttpCode(202)
  @Scopes('storefront', 'ops')
  @ApiOperation({
    summary:
      'Send an order update or another templated message (202 {messageId}; 422 unknown_template, destination_refused)',
  })
  create(@Body(zodBody(notificationBody)) body: NotificationBody): Promise<{ messageId: string }> {
    return this.requestNotification.execute(body);
  }
}
