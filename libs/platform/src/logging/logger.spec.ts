import { LogCapture } from '../testing';
import { createLogger } from './logger';
import { maskEmail, maskPhone } from './mask';

describe('logger redaction', () => {
  function capture() {
    const sink = new LogCapture();
    return { sink, logger: createLogger({ service: 'test', level: 'debug', destination: sink }) };
  }

  it('censors codes, passwords and tokens at any depth', () => {
    const { sink, logger } = capture();
    logger.info({ code: '482913', nested: { deeper: { password: 'hunter22', sessionToken: 'eyJabc' } }, variables: { code: '111222' } }, 'checked');
    const text = sink.text();
    expect(text).not.toContain('482913');
    expect(text).not.toContain('hunter22');
    expect(text).not.toContain('eyJabc');
    expect(text).not.toContain('111222');
    expect(text).toContain('[redacted]');
  });

  it('masks destinations to the last two digits, in fields and in free text', () => {
    const { sink, logger } = capture();
    logger.info({ to: '+14155550123', list: [{ e164: '+447700900123' }] }, 'sent to +4915112345678 ok');
    const text = sink.text();
    expect(text).not.toMatch(/\+14155550123|\+447700900123|\+4915112345678/);
    expect(text).toContain('••23');
    expect(text).toContain('••78');
  });

  it('masks child-logger bindings too', () => {
    const { sink, logger } = capture();
    logger.child({ phone: '+14155550199' }).info('x');
    expect(sink.text()).not.toContain('4155550199');
  });

  it('shows masked forms', () => {
    expect(maskPhone('+14155550123')).toBe('+1 ••• ••• ••23');
    expect(maskPhone('+447700900123')).toBe('+44 ••• ••• ••23');
    expect(maskEmail('ana.lopez@example.com')).toBe('a•••@example.com');
  });
});
