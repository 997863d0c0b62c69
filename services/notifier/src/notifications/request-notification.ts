import { randomUUID } from 'node:crypto';
import { type Channel, locale, notificationRequestedV1, type Priority } from '@phonegate/contracts';
import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js';
import { type Clock, DomainError, type Logger, maskDestination } from '@phonegate/platform';
import { z } from 'zod';
import type { ContactDirectory } from '../contacts/contact-directory';
import type { DestinationResolver } from '../dispatch/destination.resolver';
import { type DestinationHasher, normalizeDestination } from '../messages/destination';
import type { MessageLog } from '../messages/message-log';
import type { TemplateService } from '../templates/template.service';

/** The notification.requested.v1 fields, so the body is never looser than the event it feeds. */
const event = notificationRequestedV1.schema.shape;

/**
 * POST /v1/notifications body. Every field goes into notification.requested.v1:
 * each is checked here at least as strictly as the contract checks it (a
 * looser check would pass the body and then fail the event: a 500, not a 422).
 */
export const notificationBody = z
  .object({
    to: event.to,
    /** ISO 3166 alpha-2 country of a number given in national form (API conventions). */
    country: z
      .string()
      .regex(/^[A-Za-z]{2}$/)
      .optional(),
    accountId: event.accountId,
    channel: event.channel,
    template: event.template,
    locale: locale.optional(),
    variables: z
      .record(z.string().max(64), z.union([z.string().max(500), z.number(), z.boolean()]))
      .default({}),
    priority: event.priority.optional(),
  })
  .refine((b) => b.to !== undefined || b.accountId !== undefined, {
    message: 'give to or accountId',
    path: ['to'],
  });
export type NotificationBody = z.infer<typeof notificationBody>;

/**
 * Templates only the platform's own services send (over the bus): codes, security alerts and
 * the handoff code. Over HTTP a storefront could otherwise send a message that reads exactly
 * like a sign-in code or a security notice, with a code of its choosing, to any customer.
 */
const PLATFORM_ONLY = /^(otp|security)\.|^delivery\.handoff_code/;

export function publicTemplate(template: string): boolean {
  return !PLATFORM_ONLY.test(template);
}

/**
 * Accepts a templated message over HTTP: checks the template, the variables
 * and the destination now (so the caller hears 422 at once), then writes the
 * `queued` row and the notification.requested.v1 event in one transaction;
 * the priority queues do the rest, like any request from the bus.
 */
export class RequestNotification {
  constructor(
    private readonly log: MessageLog,
    private readonly contacts: ContactDirectory,
    private readonly resolver: DestinationResolver,
    private readonly templates: TemplateService,
    private readonly hasher: DestinationHasher,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async execute(body: NotificationBody): Promise<{ messageId: string }> {
    if (!publicTemplate(body.template))
      throw new DomainError(
        'unknown_template',
        `There is no template "${body.template}" for this API: codes and security alerts are sent by the platform's services.`,
        { template: body.template },
      );
    // The critical lane is the codes' and alerts': a caller's order updates never join it.
    if (body.priority === 'critical')
      throw new DomainError('validation_failed', 'The request has invalid fields.', {
        errors: [
          {
            field: 'priority',
            code: 'not_allowed',
            message: 'critical is kept for codes and security alerts; use standard or bulk',
          },
        ],
      });
    this.templates.assertSupported(body.template, body.channel);
    const to = body.to !== undefined ? phoneInE164(body.channel, body.to, body.country) : undefined;
    const request = {
      channel: body.channel,
      template: body.template,
      ...(to ? { to } : {}),
      ...(body.accountId ? { accountId: body.accountId } : {}),
    };
    const resolution = await this.resolver.resolve(request);
    if (!resolution.ok) {
      if (resolution.reason === 'invalid_destination') {
        throw new DomainError(
          body.channel === 'email' ? 'validation_failed' : 'invalid_phone_number',
          `to: ${resolution.detail}.`,
          {
            errors: [{ field: 'to', code: 'invalid', message: resolution.detail }],
          },
        );
      }
      throw new DomainError(
        'destination_refused',
        `The message cannot go there: ${resolution.detail}.`,
        { reason: resolution.reason },
      );
    }
    // Over HTTP a number must be one verified on some account (no open relay to any number).
    if (
      body.channel !== 'email' &&
      to !== undefined &&
      !(await this.contacts.ownerOfNumber(resolution.to))
    ) {
      throw new DomainError(
        'destination_refused',
        'The message cannot go there: not a verified number.',
        { reason: 'destination_refused' },
      );
    }
    const locale =
      body.locale ??
      (resolution.accountId
        ? ((await this.contacts.emailOf(resolution.accountId))?.locale ?? 'en')
        : 'en');
    const rendered = this.templates.render({
      template: body.template,
      channel: body.channel,
      locale,
      variables: body.variables,
    });

    const messageId = randomUUID();
    const now = this.clock.now();
    const destination = normalizeDestination(body.channel, resolution.to);
    const prio: Priority = body.priority ?? 'standard';
    const inserted = await this.log.insertQueued(
      {
        id: messageId,
        priority: prio,
        channel: body.channel,
        template: body.template,
        locale: rendered.locale,
        ...(resolution.accountId ? { accountId: resolution.accountId } : {}),
        destinationMasked: maskDestination(destination),
        destinationHash: this.hasher.hash(destination),
        body: rendered.stored.text,
        ...(rendered.stored.subject !== undefined ? { subject: rendered.stored.subject } : {}),
        segments: rendered.segments,
        encoding: rendered.encoding,
        requestedAt: now,
        origin: { service: 'api' },
      },
      now,
      {
        contract: notificationRequestedV1,
        data: {
          messageId,
          priority: prio,
          channel: body.channel,
          to: destination,
          ...(resolution.accountId ? { accountId: resolution.accountId } : {}),
          template: body.template,
          locale: rendered.locale,
          variables: body.variables,
          origin: { service: 'api' },
        },
      },
    );
    if (inserted !== 'inserted')
      throw new DomainError('conflict', 'The message could not be queued; retry.');
    this.logger.info(
      { messageId, template: body.template, channel: body.channel, priority: prio },
      'notification accepted',
    );
    return { messageId };
  }
}

/**
 * A number as the API conventions take it: E.164, or national form with `country`; spaces,
 * dots, dashes and brackets allowed. Anything that does not read as a valid number is left as
 * given, for the destination check to refuse (422 `invalid_phone_number`). E-mail addresses
 * are left alone.
 */
function phoneInE164(channel: Channel, to: string, country: string | undefined): string {
  if (channel === 'email' || E164.test(to.trim())) return to;
  const parsed = parsePhoneNumberFromString(
    to.trim(),
    country ? (country.toUpperCase() as CountryCode) : undefined,
  );
  return parsed?.isValid() ? parsed.number : to;
}

const E164 = /^\+[1-9]\d{6,14}$/;
