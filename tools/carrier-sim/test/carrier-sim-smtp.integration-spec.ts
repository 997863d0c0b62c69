import nodemailer from 'nodemailer';
import { startCarrierSim, type CarrierSim } from '../src';

jest.setTimeout(30_000);

describe('carrier simulator: SMTP', () => {
  let sim: CarrierSim;

  beforeAll(async () => {
    sim = await startCarrierSim({ smppPort: false, httpPort: false });
  });
  afterEach(() => {
    sim.registry.reset();
    sim.store.clear();
  });
  afterAll(() => sim.stop());

  const transport = (auth?: { user: string; pass: string }) =>
    nodemailer.createTransport({
      host: '127.0.0.1',
      port: sim.ports.smtp!,
      secure: false,
      ignoreTLS: true,
      auth,
    });

  it('records a quoted-printable mail sent with AUTH, with subject, text and html', async () => {
    const t = transport({ user: 'sim', pass: 'sim-smtp' });
    const info = await t.sendMail({
      from: 'Shop <no-reply@shop.example>',
      to: 'ann@example.com',
      subject: 'Crème brûlée — order 42',
      text: 'Bonjour Ann, votre commande est partie. Déjà là demain ! '.repeat(3).trim(),
      html: '<p>Bonjour <b>Ann</b></p>',
    });
    t.close();
    const record = await sim.store.waitFor((m) => m.to === 'ann@example.com');
    expect(record).toMatchObject({
      channel: 'email',
      from: 'no-reply@shop.example',
      subject: 'Crème brûlée — order 42',
      body: 'Bonjour Ann, votre commande est partie. Déjà là demain ! '.repeat(3).trim(),
      html: '<p>Bonjour <b>Ann</b></p>',
      carrier: 'smtp-main',
      id: info.messageId.replace(/^<|>$/g, ''),
    });
  });

  it('records a base64 text part sent anonymously', async () => {
    const t = transport();
    await t.sendMail({
      from: 'no-reply@shop.example',
      to: 'bob@example.com',
      subject: 'Код',
      text: 'Ваш код: 123456',
      textEncoding: 'base64',
    });
    t.close();
    const record = await sim.store.waitFor((m) => m.to === 'bob@example.com');
    expect([record.subject, record.body]).toEqual(['Код', 'Ваш код: 123456']);
  });

  it('refuses wrong credentials, invalid domains, and greets with 421 when down', async () => {
    await expect(
      transport({ user: 'sim', pass: 'wrong' }).sendMail({
        from: 'a@b.test',
        to: 'c@d.test',
        text: 'x',
      }),
    ).rejects.toMatchObject({
      responseCode: 535,
    });
    await expect(
      transport().sendMail({ from: 'a@b.test', to: 'c@invalid.test', text: 'x' }),
    ).rejects.toMatchObject({
      responseCode: 550,
    });
    sim.setBehaviour('smtp-main', { throttle: true });
    await expect(
      transport().sendMail({ from: 'a@b.test', to: 'c@d.test', text: 'x' }),
    ).rejects.toMatchObject({
      responseCode: 452,
    });
    sim.setBehaviour('smtp-main', { throttle: false, down: true });
    await expect(
      transport().sendMail({ from: 'a@b.test', to: 'c@d.test', text: 'x' }),
    ).rejects.toMatchObject({
      responseCode: 421,
    });
    expect(sim.store.count()).toBe(0);
  });
});
