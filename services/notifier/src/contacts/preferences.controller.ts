import { Body, Controller, Inject, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Clock, DomainError, Scopes, zodBody } from '@phonegate/platform';
import { uuid } from '@phonegate/contracts';
import { z } from 'zod';
import { ContactDirectory, type Preferences } from './contact-directory';

const preferencesBody = z.object({ orderUpdates: z.boolean() }).strict();

@ApiTags('notification preferences')
@ApiBearerAuth()
@Controller('v1/accounts')
export class PreferencesController {
  constructor(
    @Inject(ContactDirectory) private readonly contacts: ContactDirectory,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /** The owner's consent to order updates by SMS (on by default). */
  @Put(':accountId/notification-preferences')
  @Scopes('storefront')
  @ApiOperation({ summary: 'Turn order updates by SMS on or off for an account' })
  update(
    @Param('accountId') accountId: string,
    @Body(zodBody(preferencesBody)) body: z.infer<typeof preferencesBody>,
  ): Promise<Preferences> {
    // Account ids are UUIDs (identity's): anything else names no account, and is stored nowhere.
    if (!uuid.safeParse(accountId).success)
      throw new DomainError('not_found', 'No such account.');
    return this.contacts.setPreferences(accountId.toLowerCase(), body.orderUpdates, this.clock.now());
  }
}
