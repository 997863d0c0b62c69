import { DevInboxCarrier } from './dev-inbox.carrier';

const msg = (to: string, body: string, channel: 'sms' | 'email' = 'sms') => ({
  messageId: `m-${body}`,
  channel,
  to,
  body,
  signal: new AbortController().signal,
});

describe('DevInboxCarrier', () => {
  it('keeps every message and lists them newest first, filtered', async () => {
    const inbox = new DevInboxCarrier();
    await inbox.send(msg('+14155550001', 'one'));
    await inbox.send(msg('ann@example.com', 'two', 'email'));
    const third = await inbox.send(msg('+14155550001', 'three'));
    expect(third).toMatchObject({ carrierId: 'dev-inbox', providerMessageId: expect.any(String) });
    expect(inbox.list().map((m) => m.body)).toEqual(['three', 'two', 'one']);
    expect(inbox.list({ to: '+14155550001' }).map((m) => m.body)).toEqual(['three', 'one']);
    expect(inbox.list({ channel: 'email' })[0]).toMatchObject({
      to: 'ann@example.com',
      status: 'delivered',
      carrier: 'dev-inbox',
    });
    expect(inbox.list({ limit: 1 })).toHaveLength(1);
  });

  it('reports a delivered receipt for each message', async () => {
    const inbox = new DevInboxCarrier();
    const receipts: string[] = [];
    inbox.onReceipt((r) => receipts.push(`${r.messageId}:${r.status}`));
    await inbox.send(msg('+14155550001', 'x'));
    await new Promise((r) => setTimeout(r, 10));
    expect(receipts).toEqual(['m-x:delivered']);
  });

  it('refuses a channel it does not serve and an aborted send', async () => {
    const inbox = new DevInboxCarrier({ channels: ['sms'] });
    await expect(inbox.send(msg('a@b.test', 'x', 'email'))).rejects.toMatchObject({
      kind: 'rejected',
    });
    const ac = new AbortController();
    ac.abort();
    await expect(inbox.send({ ...msg('+1', 'x'), signal: ac.signal })).rejects.toMatchObject({
      kind: 'timeout',
    });
  });
});
