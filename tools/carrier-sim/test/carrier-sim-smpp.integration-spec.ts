import { startCarrierSim, type CarrierSim } from '../src';
import type { SmppSession } from '../src/smpp/smpp.lib';
import { call, closed, connectSmpp, nextPdu } from './smpp-client.helper';

jest.setTimeout(30_000);

/** Segment `seq` of a 2-segment concatenated message (UDH reference `ref`). */
function segment(
  s: SmppSession,
  to: string,
  ref: number,
  seq: number,
  payload: Buffer,
  dataCoding = 0,
) {
  return call(s, 'submit_sm', {
    dest_addr_ton: 1,
    destination_addr: to,
    esm_class: 0x40,
    data_coding: dataCoding,
    short_message: Buffer.concat([Buffer.from([5, 0, 3, ref, 2, seq]), payload]),
  });
}

describe('carrier simulator: SMPP', () => {
  let sim: CarrierSim;
  const sessions: SmppSession[] = [];

  beforeAll(async () => {
    sim = await startCarrierSim({ smtpPort: false });
  });
  afterEach(() => {
    for (const s of sessions.splice(0)) s.destroy();
    sim.registry.reset();
    sim.store.clear();
  });
  afterAll(() => sim.stop());

  async function bound(
    systemId = 'smpp-a',
    password = 'sim-a',
  ): Promise<Awaited<ReturnType<typeof connectSmpp>>> {
    const s = await connectSmpp(sim.ports.smpp!);
    sessions.push(s);
    const resp = await call(s, 'bind_transceiver', { system_id: systemId, password });
    expect(resp.command_status).toBe(0);
    return s;
  }

  it('refuses a bind with a wrong password', async () => {
    const s = await connectSmpp(sim.ports.smpp!);
    sessions.push(s);
    const resp = await call(s, 'bind_transceiver', { system_id: 'smpp-a', password: 'nope' });
    expect(resp.command_status).toBe(0x0e);
    await closed(s);
  });

  it('accepts a GSM-7 submit, records it and sends a delivery receipt', async () => {
    const s = await bound();
    const resp = await call(s, 'submit_sm', {
      source_addr: 'Shop',
      source_addr_ton: 5,
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      destination_addr: '14155550123',
      registered_delivery: 1,
      data_coding: 0,
      short_message: Buffer.from([0x48, 0x69, 0x20, 0x00, 0x1b, 0x65]), // "Hi @€" in GSM 03.38
    });
    expect(resp.command_status).toBe(0);
    const id = String(resp['message_id']);
    const receipt = await nextPdu(s, 'deliver_sm');
    s.send(receipt.response());
    expect(receipt['esm_class']).toBe(0x04);
    expect(receipt['receipted_message_id']).toBe(id);
    expect(receipt['message_state']).toBe(2);
    const text = (receipt['short_message'] as { message: string }).message;
    expect(text).toMatch(
      new RegExp(
        `^id:${id} sub:001 dlvrd:001 submit date:\\d{10} done date:\\d{10} stat:DELIVRD err:000 text:`,
      ),
    );
    const [record] = sim.store.list({ to: '+14155550123' });
    expect(record).toMatchObject({
      id,
      channel: 'sms',
      body: 'Hi @€',
      carrier: 'smpp-a',
      status: 'delivered',
      dataCoding: 0,
    });
    expect(record!.receivedAt).toBeGreaterThan(Date.now() - 5000);
  });

  it('decodes UCS-2 and reassembles a concatenated message from its UDH', async () => {
    const s = await bound();
    const part = (seq: number, text: string) =>
      segment(s, '447700900123', 0x2a, seq, Buffer.from(text, 'utf16le').swap16(), 8);
    const first = await part(1, 'Привет, ');
    const second = await part(2, 'мир 👋');
    expect([first.command_status, second.command_status]).toEqual([0, 0]);
    const [record] = sim.store.list({ to: '+447700900123' });
    expect(record).toMatchObject({
      body: 'Привет, мир 👋',
      segments: 2,
      dataCoding: 8,
      id: first['message_id'],
    });
    expect(record!.segmentIds).toEqual([first['message_id'], second['message_id']]);
  });

  it('refuses just the segment the knob refuseSegment names; cancel_sm withdraws a segment already taken', async () => {
    const s = await bound();
    const part = (ref: number, seq: number) =>
      segment(s, '447700900124', ref, seq, Buffer.from('abc'));
    const cancel = (id: unknown) =>
      call(s, 'cancel_sm', { message_id: id, dest_addr_ton: 1, destination_addr: '447700900124' });
    const res = await fetch(`${sim.urls.control}/_sim/carriers/smpp-a`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refuseSegment: { segment: 2, status: 'invalid' } }),
    });
    expect(res.status).toBe(200);

    const first = await part(1, 1);
    expect(first.command_status).toBe(0);
    expect((await part(1, 2)).command_status).toBe(0x0b);
    sim.setBehaviour('smpp-a', { refuseSegment: { segment: 2, status: 'throttled' } });
    expect((await part(2, 1)).command_status).toBe(0);
    expect((await part(2, 2)).command_status).toBe(0x58);
    // The segment taken of a message never complete is withdrawn; twice, it is unknown.
    expect((await cancel(first['message_id'])).command_status).toBe(0);
    expect((await cancel(first['message_id'])).command_status).toBe(0x0c);
    expect(sim.store.list({ to: '+447700900124' })).toEqual([]);
    expect(sim.registry.get('smpp-a')!.stats).toMatchObject({
      accepted: 2,
      invalid: 1,
      throttled: 1,
      cancelled: 1,
    });
  });

  it('answers throttled, invalid destination and error statuses from the knobs', async () => {
    const s = await bound();
    const submit = (to: string) =>
      call(s, 'submit_sm', { dest_addr_ton: 1, destination_addr: to, short_message: 'x' });
    expect((await submit('99912345678')).command_status).toBe(0x0b);
    sim.setBehaviour('smpp-a', { throttle: true });
    expect((await submit('14155550123')).command_status).toBe(0x58);
    sim.setBehaviour('smpp-a', { throttle: false, errorRate: 1 });
    expect((await submit('14155550123')).command_status).toBe(0x08);
    expect(sim.store.count()).toBe(0);
  });

  it('answers enquire_link and applies latency before submit_sm_resp', async () => {
    const s = await bound();
    expect((await call(s, 'enquire_link')).command_status).toBe(0);
    sim.setBehaviour('smpp-a', { latencyMs: 200 });
    const started = Date.now();
    await call(s, 'submit_sm', {
      dest_addr_ton: 1,
      destination_addr: '14155550123',
      short_message: 'x',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('drops sessions on demand, does not record unanswered submits, and refuses binds when down', async () => {
    const s = await bound();
    sim.setBehaviour('smpp-a', { latencyMs: 300 });
    const pending = call(s, 'submit_sm', {
      dest_addr_ton: 1,
      destination_addr: '14155550123',
      short_message: 'lost',
    });
    void pending.catch(() => undefined);
    const res = await fetch(`${sim.urls.control}/_sim/carriers/smpp-a/drop-sessions`, {
      method: 'POST',
    });
    expect(await res.json()).toEqual({ dropped: 1 });
    await closed(s);
    await new Promise((r) => setTimeout(r, 400));
    expect(sim.store.count()).toBe(0);

    const other = await bound('smpp-c', 'sim-c');
    await fetch(`${sim.urls.control}/_sim/carriers/smpp-c`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ down: true }),
    });
    await closed(other);
    const again = await connectSmpp(sim.ports.smpp!);
    sessions.push(again);
    expect(
      (await call(again, 'bind_transceiver', { system_id: 'smpp-c', password: 'sim-c' }))
        .command_status,
    ).toBe(0x0d);
  });

  it('keeps receipts for a carrier with no bound session and delivers them on the next bind', async () => {
    const s = await bound();
    sim.setBehaviour('smpp-a', { receiptDelayMs: 150, receiptStatus: 'undelivered' });
    await call(s, 'submit_sm', {
      dest_addr_ton: 1,
      destination_addr: '14155550199',
      registered_delivery: 1,
      short_message: 'x',
    });
    s.destroy();
    await closed(s);
    await new Promise((r) => setTimeout(r, 250));
    const next = await connectSmpp(sim.ports.smpp!);
    sessions.push(next);
    const receiptPromise = nextPdu(next, 'deliver_sm');
    await call(next, 'bind_transceiver', { system_id: 'smpp-a', password: 'sim-a' });
    const receipt = await receiptPromise;
    expect((receipt['short_message'] as { message: string }).message).toContain(
      'stat:UNDELIV err:001',
    );
    expect(receipt['message_state']).toBe(5);
  });

  it('withdraws an accepted message on cancel_sm until its receipt is out, then refuses to', async () => {
    const s = await bound();
    sim.setBehaviour('smpp-a', { receiptDelayMs: 400 });
    const submit = async (to: string) =>
      String(
        (
          await call(s, 'submit_sm', {
            dest_addr_ton: 1,
            destination_addr: to,
            registered_delivery: 1,
            short_message: 'x',
          })
        )['message_id'],
      );
    const cancel = (id: string, to: string) =>
      call(s, 'cancel_sm', { message_id: id, dest_addr_ton: 1, destination_addr: to });

    const early = await submit('14155550177');
    expect((await cancel(early, '14155550177')).command_status).toBe(0);
    expect(sim.store.get(early)).toMatchObject({ status: 'cancelled', carrier: 'smpp-a' });
    // Twice: it is already withdrawn.
    expect((await cancel(early, '14155550177')).command_status).toBe(0x11);
    // An id the carrier never gave.
    expect((await cancel('ffffffffffffffff', '14155550177')).command_status).toBe(0x0c);

    const late = await submit('14155550178');
    const receipt = await nextPdu(s, 'deliver_sm');
    s.send(receipt.response());
    expect(receipt['receipted_message_id']).toBe(late);
    expect((await cancel(late, '14155550178')).command_status).toBe(0x11);
    expect(sim.store.get(late)?.status).toBe('delivered');

    // A centre without cancel_sm refuses it even before delivery.
    sim.setBehaviour('smpp-a', { cancellable: false, receiptDelayMs: 60_000 });
    const kept = await submit('14155550179');
    expect((await cancel(kept, '14155550179')).command_status).toBe(0x11);
    expect(sim.store.get(kept)?.status).toBe('accepted');

    // The cancelled one never gets a receipt.
    await new Promise((r) => setTimeout(r, 500));
    expect(s.pdus.filter((p) => p.command === 'deliver_sm')).toHaveLength(1);
    const stats = (await (await fetch(`${sim.urls.control}/_sim/carriers/smpp-a`)).json()) as {
      stats: { cancelled: number };
    };
    expect(stats.stats.cancelled).toBe(1);
  });
});
