import { CarrierRegistry, isInvalidDestination } from './carrier.registry';

const smpp = { name: 's', protocol: 'smpp' as const, systemId: 's', password: 'p' };

describe('CarrierRegistry.decide', () => {
  it('accepts by default and counts it', () => {
    const reg = new CarrierRegistry([smpp]);
    const state = reg.get('s')!;
    expect(reg.decide(state, '+14155550123')).toBe('accept');
    expect(state.stats.accepted).toBe(1);
  });

  it('checks down, then the recipient, then the throttle, then the error rate', () => {
    const reg = new CarrierRegistry([smpp], () => 0);
    const state = reg.get('s')!;
    reg.update('s', { down: true, throttle: true, errorRate: 1 });
    expect(reg.decide(state, '+99912345678')).toBe('down');
    reg.update('s', { down: false });
    expect(reg.decide(state, '+99912345678')).toBe('invalid');
    expect(reg.decide(state, '+14155550123')).toBe('throttled');
    reg.update('s', { throttle: false });
    expect(reg.decide(state, '+14155550123')).toBe('error');
  });

  it('lets a numeric throttle through n a second', () => {
    const reg = new CarrierRegistry([{ ...smpp, behaviour: { throttle: 2 } }]);
    const state = reg.get('s')!;
    const t = 1_000_000;
    expect([
      reg.decide(state, '+1', t),
      reg.decide(state, '+1', t + 10),
      reg.decide(state, '+1', t + 20),
    ]).toEqual(['accept', 'accept', 'throttled']);
    expect(reg.decide(state, '+1', t + 1001)).toBe('accept');
  });

  it('resets behaviour and counters to the configuration', () => {
    const reg = new CarrierRegistry([{ ...smpp, behaviour: { latencyMs: 5 } }]);
    reg.update('s', { latencyMs: 900, down: true });
    reg.decide(reg.get('s')!, '+1');
    reg.reset();
    expect(reg.get('s')!.behaviour).toMatchObject({ latencyMs: 5, down: false });
    expect(reg.get('s')!.stats.refused).toBe(0);
  });
});

describe('isInvalidDestination', () => {
  it('matches E.164 prefixes and e-mail domains', () => {
    expect(isInvalidDestination('+99912', ['+999'])).toBe(true);
    expect(isInvalidDestination('+14155550123', ['+999'])).toBe(false);
    expect(isInvalidDestination('a@Invalid.test', ['invalid.test'])).toBe(true);
    expect(isInvalidDestination('a@ok.test', ['invalid.test', '+1'])).toBe(false);
  });
});
