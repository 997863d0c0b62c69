import { DEFAULT_BEHAVIOUR, signCallback } from '@phonegate/carrier-sim';
import { eventually } from '@phonegate/platform/testing';
import { containsCode, type MessageJson } from '../support/harness';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

/**
 * The message status timeline as support reads it (`GET /v1/messages/:id`: "did the code reach
 * the customer?") over the simulator's real SMPP, HTTP and SMTP, and the HTTP carriers' status
 * callbacks as a caller of the receipts route sees them.
 */
describe('notifier: the status timeline and receipt callbacks', () => {
  let s: SimNotifier;
  const view = (id: string) => s.get<MessageJson>(`/v1/messages/${id}`);
  const settled = async (id: string, statuses: readonly string[]) => {
    await eventually(async () => statuses.includes((await view(id)).status), 20_000);
    return view(id);
  };
  const receiptsUrl = (carrier: string) =>
    `http://127.0.0.1:${s.port}/v1/carriers/${carrier}/receipts`;
  /** A status callback as http-b posts it: form-encoded, signed with its token unless told. */
  const callback = (
    params: Record<string, string>,
    opts: { body?: string; signature?: string } = {},
  ) =>
    fetch(receiptsUrl('http-b'), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-sim-signature':
          opts.signature ?? signCallback(receiptsUrl('http-b'), params, 'sim-token-b'),
      },
      body: opts.body ?? new URLSearchParams(params).toString(),
    });

  beforeAll(async () => {
    s = await SimNotifier.start({ outcomes: true, numbers: '+1415556' });
  });

  afterAll(async () => {
    await s?.close();
  });

  it.each([
    ['delivered' as const, 'delivered', null],
    ['undelivered' as const, 'failed', 'undelivered:UNDELIV/001'],
    ['failed' as const, 'failed', 'rejected:REJECTD/001'],
    ['expired' as const, 'failed', 'expired:EXPIRED/001'],
  ])(
    'SMPP receipt %s: queued → sending → sent → %s, with the reason',
    async (receipt, status, reason) => {
      s.sim.setBehaviour('smpp-a', { receiptStatus: receipt });
      try {
        const code = await s.publish(s.code());
        const v = await settled(code.messageId, ['delivered', 'failed']);
        expect(v).toMatchObject({ status, reason, carrier: 'smpp-a', attempts: 1 });
        expect(v.timeline.map((t) => [t.status, t.carrier ?? null, t.reason ?? null])).toEqual([
          ['queued', null, null],
          ['sending', null, null],
          ['sent', 'smpp-a', null],
          [status, 'smpp-a', reason],
        ]);
      } finally {
        s.sim.setBehaviour('smpp-a', { receiptStatus: 'delivered' });
      }
    },
  );

  it.each([
    ['ENROUTE (message_state 1)', { stat: 'ENROUTE', messageState: 1 }],
    ['SMPP 5.0 SCHEDULED (message_state 0)', { stat: 'SCHEDULED', messageState: 0 }],
    ['ACCEPTD (message_state 6)', { stat: 'ACCEPTD', messageState: 6 }],
    ['a stat word the table does not know, no message_state', { stat: 'PENDING' }],
  ])(
    'an intermediate SMPP receipt (%s) keeps the message sent; the final one ends it',
    async (_what, interim) => {
      s.sim.setBehaviour('smpp-a', { interimReceipt: interim, receiptDelayMs: 1_500 });
      try {
        const before = s.sim.registry.get('smpp-a')!.stats.receiptsSent;
        const code = await s.publish(s.code());
        // The intermediate receipt was answered: the notifier has read it.
        await eventually(() => s.sim.registry.get('smpp-a')!.stats.receiptsSent === before + 1);
        await new Promise((r) => setTimeout(r, 200));
        expect((await view(code.messageId)).status).toBe('sent');
        const v = await settled(code.messageId, ['delivered', 'failed']);
        expect(v.timeline.map((t) => t.status)).toEqual(['queued', 'sending', 'sent', 'delivered']);
        // A failure here makes otp fall back to another channel: the code would go twice.
        expect(s.outcomes.of('notification.failed.v1', code.messageId)).toEqual([]);
      } finally {
        s.sim.setBehaviour('smpp-a', {
          interimReceipt: false,
          receiptDelayMs: DEFAULT_BEHAVIOUR.receiptDelayMs,
        });
      }
    },
  );

  it.each([
    ['SMPP 5.0 SKIPPED (message_state 9)', { stat: 'SKIPPED', messageState: 9 }, 'failed:SKIPPED'],
    ['SKIPPED, no message_state', { stat: 'SKIPPED' }, 'failed:SKIPPED'],
    ['a centre\'s FAILED, no message_state', { stat: 'FAILED' }, 'failed:FAILED'],
    [
      'a centre\'s UNDELIVERABLE, no message_state',
      { stat: 'UNDELIVERABLE' },
      'undelivered:UNDELIVERABLE',
    ],
  ])(
    'a final SMPP receipt (%s) ends the message failed instead of leaving it sent',
    async (_what, word, reason) => {
      // The centre's first receipt already decides; the DELIVRD it sends later changes nothing.
      s.sim.setBehaviour('smpp-a', { interimReceipt: word, receiptDelayMs: 1_500 });
      try {
        const code = await s.publish(s.code());
        const v = await settled(code.messageId, ['delivered', 'failed']);
        expect(v).toMatchObject({ status: 'failed', reason, carrier: 'smpp-a' });
        expect(v.timeline.map((t) => t.status)).toEqual(['queued', 'sending', 'sent', 'failed']);
        await eventually(() => s.outcomes.of('notification.failed.v1', code.messageId).length === 1);
      } finally {
        s.sim.setBehaviour('smpp-a', {
          interimReceipt: false,
          receiptDelayMs: DEFAULT_BEHAVIOUR.receiptDelayMs,
        });
      }
    },
  );

  it('a concatenated SMS whose centre sends every receipt twice ends with its worst segment, once', async () => {
    s.sim.setBehaviour('smpp-a', {
      receiptCopies: 2,
      segmentReceiptStatus: { segment: 3, status: 'undelivered' },
    });
    try {
      const request = s.code();
      const code = await s.publish({
        ...request,
        locale: 'ja',
        variables: { ...request.variables, host: 'sign-in.checkout.storefront.shop.example.com' },
      });
      const v = await settled(code.messageId, ['delivered', 'failed']);
      expect(s.sim.store.list({ to: code.to })[0]).toMatchObject({ segments: 3 });
      // Every copy of every segment's receipt is in before the answer is read.
      await new Promise((r) => setTimeout(r, 500));
      const after = await view(code.messageId);
      expect(after).toEqual(v);
      expect(v).toMatchObject({ status: 'failed', reason: 'undelivered:UNDELIV/001', segments: 3 });
      expect(v.timeline.map((t) => t.status)).toEqual(['queued', 'sending', 'sent', 'failed']);
      expect(s.outcomes.of('notification.delivered.v1', code.messageId)).toEqual([]);
      await eventually(() => s.outcomes.of('notification.failed.v1', code.messageId).length === 1);
    } finally {
      s.sim.setBehaviour('smpp-a', { receiptCopies: 1, segmentReceiptStatus: false });
    }
  });

  it('SMPP receipts that overtake their submit_sm_resp: one segment, and a concatenated SMS ending with its worst segment', async () => {
    s.sim.setBehaviour('smpp-a', { receiptBeforeResponse: true });
    try {
      const single = await s.publish(s.code());
      const one = await settled(single.messageId, ['delivered', 'failed']);
      expect(one.timeline.map((t) => t.status)).toEqual(['queued', 'sending', 'sent', 'delivered']);

      s.sim.setBehaviour('smpp-a', { segmentReceiptStatus: { segment: 3, status: 'undelivered' } });
      const request = s.code();
      const long = await s.publish({
        ...request,
        locale: 'ja',
        variables: { ...request.variables, host: 'sign-in.checkout.storefront.shop.example.com' },
      });
      const v = await settled(long.messageId, ['delivered', 'failed']);
      expect(v).toMatchObject({ status: 'failed', reason: 'undelivered:UNDELIV/001', segments: 3 });
      expect(v.timeline.map((t) => t.status)).toEqual(['queued', 'sending', 'sent', 'failed']);
      expect(s.logLines(long.messageId).join('\n')).not.toContain('unknown message');
      expect(s.logLines('delivery receipt for an unknown message')).toEqual([]);
    } finally {
      s.sim.setBehaviour('smpp-a', { receiptBeforeResponse: false, segmentReceiptStatus: false });
    }
  });

  it('HTTP SMS and voice receipts, a receipt that overtakes the submit’s answer, and e-mail that stays sent', async () => {
    s.sim.setBehaviour('smpp-a', { down: true });
    try {
      // The final callback leaves the carrier with its 201: it reaches us before `sent` is written.
      s.sim.setBehaviour('http-b', { receiptDelayMs: 0, latencyMs: 200 });
      const early = await s.publish(s.code());
      const e = await settled(early.messageId, ['delivered', 'failed']);
      expect(e.timeline.map((t) => t.status)).toEqual(['queued', 'sending', 'sent', 'delivered']);
      expect(e.carrier).toBe('http-b');

      s.sim.setBehaviour('http-b', { latencyMs: 0, receiptStatus: 'undelivered' });
      const call = await s.publish({ ...s.code(), channel: 'voice' });
      const c = await settled(call.messageId, ['delivered', 'failed']);
      expect(c).toMatchObject({
        status: 'failed',
        reason: 'undelivered:no-answer',
        carrier: 'http-b',
      });
      expect(containsCode(c.body, String(call.variables.code))).toBe(false);
      expect(c.body).not.toMatch(/\d, \d, \d/);

      // Its validity period ran out at the carrier.
      s.sim.setBehaviour('http-b', { receiptStatus: 'expired' });
      const stale = await s.publish(s.code());
      const x = await settled(stale.messageId, ['delivered', 'failed']);
      expect(x).toMatchObject({ status: 'failed', reason: 'failed:30036', carrier: 'http-b' });
      expect(x.timeline.at(-1)).toMatchObject({ status: 'failed', reason: 'failed:30036' });

      const mail = await s.publish({ ...s.code(), channel: 'email', to: 'Mia.Lind@Example.com' });
      const m = await settled(mail.messageId, ['sent']);
      expect(m).toMatchObject({ to: 'm•••@example.com', carrier: 'smtp-main', reason: null });
      expect(containsCode(m.body, String(mail.variables.code))).toBe(false);
    } finally {
      s.sim.setBehaviour('smpp-a', { down: false });
      s.sim.setBehaviour('http-b', {
        receiptDelayMs: DEFAULT_BEHAVIOUR.receiptDelayMs,
        latencyMs: 0,
        receiptStatus: 'delivered',
      });
    }
  });

  it('a number the second carrier refuses as invalid, after the first was down: both carriers’ steps, then failed', async () => {
    s.sim.setBehaviour('smpp-a', { down: true });
    try {
      const code = await s.publish({ ...s.code(), to: '+99914155560' });
      const v = await settled(code.messageId, ['failed']);
      expect(v).toMatchObject({ status: 'failed', reason: 'recipient:21211', carrier: 'http-b' });
      expect(v.timeline.map((t) => [t.status, t.carrier ?? null])).toEqual([
        ['queued', null],
        ['sending', null],
        ['sending', 'smpp-a'],
        ['failed', 'http-b'],
      ]);
      expect(v.timeline[2]!.reason).toMatch(/^attempt_(failed|skipped): /);
      expect(v.timeline[3]!.reason).toBe('recipient:21211');
    } finally {
      s.sim.setBehaviour('smpp-a', { down: false });
    }
  });

  it('a repeated receipt, and one with another final word after it, change nothing', async () => {
    s.sim.setBehaviour('smpp-a', { down: true });
    try {
      const code = await s.publish(s.code());
      const before = await settled(code.messageId, ['delivered']);
      const sid = s.sim.store.list({ to: code.to })[0]!.id;
      for (const status of ['delivered', 'undelivered', 'failed']) {
        const res = await callback({
          AccountSid: 'ACsimb',
          MessageSid: sid,
          MessageStatus: status,
        });
        expect(res.status).toBe(204);
      }
      expect(await view(code.messageId)).toEqual(before);
      expect(s.outcomes.of('notification.delivered.v1', code.messageId)).toHaveLength(1);
      expect(s.outcomes.of('notification.failed.v1', code.messageId)).toEqual([]);
    } finally {
      s.sim.setBehaviour('smpp-a', { down: false });
    }
  });

  it('answers a callback holding a NUL character with 422 naming the field, and changes nothing', async () => {
    s.sim.setBehaviour('smpp-a', { down: true });
    s.sim.setBehaviour('http-b', { receiptDelayMs: 60_000 });
    try {
      const code = await s.publish(s.code());
      const before = await settled(code.messageId, ['sent']);
      const sid = s.sim.store.list({ to: code.to })[0]!.id;
      const bad: Record<string, string>[] = [
        { AccountSid: 'ACsimb', MessageSid: sid, MessageStatus: 'failed', ErrorCode: '30\u00003' },
        { AccountSid: 'ACsimb', MessageSid: `${sid}\u0000`, MessageStatus: 'failed' },
      ];
      for (const params of bad) {
        const res = await callback(params);
        expect(res.status).toBe(422);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        const problem = (await res.json()) as {
          code: string;
          errors: { field: string; code: string }[];
        };
        expect(problem.code).toBe('validation_failed');
        expect(problem.errors[0]).toMatchObject({ code: 'invalid_characters' });
        expect(['ErrorCode', 'MessageSid']).toContain(problem.errors[0]!.field);
      }
      expect(await view(code.messageId)).toEqual(before);
      expect(s.outcomes.of('notification.failed.v1', code.messageId)).toEqual([]);
    } finally {
      s.sim.setBehaviour('smpp-a', { down: false });
      s.sim.setBehaviour('http-b', { receiptDelayMs: DEFAULT_BEHAVIOUR.receiptDelayMs });
    }
  });
});
