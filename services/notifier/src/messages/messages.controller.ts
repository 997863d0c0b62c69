import { Controller, Get, Inject, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DomainError, Scopes } from '@phonegate/platform';
import { MessageLog } from './message-log';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@ApiTags('messages')
@ApiBearerAuth()
@Controller('v1/messages')
export class MessagesController {
  constructor(@Inject(MessageLog) private readonly log: MessageLog) {}

  /** For support: the status timeline, the destination masked, the text with any code masked. */
  @Get(':messageId')
  @Scopes('ops', 'storefront')
  @ApiOperation({ summary: 'A message with its status timeline (destination masked, no code)' })
  async get(@Param('messageId') messageId: string) {
    const found = UUID.test(messageId)
      ? await this.log.findWithTimeline(messageId.toLowerCase())
      : undefined;
    if (!found) throw new DomainError('not_found', 'No message with this id.');
    const { message, timeline } = found;
    return {
      messageId: message.id,
      status: message.status,
      channel: message.channel,
      priority: message.priority,
      template: message.template,
      locale: message.locale,
      to: message.destinationMasked,
      carrier: message.carrier,
      attempts: message.attempts,
      segments: message.segments,
      reason: message.reason,
      ...(message.subject !== null ? { subject: message.subject } : {}),
      body: message.body,
      notAfter: message.notAfter?.toISOString() ?? null,
      requestedAt: message.requestedAt.toISOString(),
      updatedAt: message.updatedAt.toISOString(),
      ...(message.origin ? { origin: message.origin } : {}),
      timeline: timeline.map((t) => ({
        status: t.status,
        at: t.at.toISOString(),
        ...(t.carrier ? { carrier: t.carrier } : {}),
        ...(t.reason ? { reason: t.reason } : {}),
      })),
    };
  }
}
