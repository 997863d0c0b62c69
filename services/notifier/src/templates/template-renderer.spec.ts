import { renderTemplate, requiredVariables, TemplateVariablesMissing } from './template-renderer';

const en = { locale: 'en' };

describe('renderTemplate', () => {
  it('fills variables and keeps optional sections only when their variable is there', () => {
    const src = 'Code {{code}}.{{#reportUrl}} Not you? {{reportUrl}}{{/reportUrl}}';
    expect(renderTemplate(src, { code: '012345' }, en)).toBe('Code 012345.');
    expect(renderTemplate(src, { code: '012345', reportUrl: 'https://x.test/r/1' }, en)).toBe(
      'Code 012345. Not you? https://x.test/r/1',
    );
  });

  it('keeps an inverted section only when its variable is not there', () => {
    const src =
      '{{#minutes}}Locked for {{minutes}} min.{{/minutes}}{{^minutes}}This sign-in was stopped.{{/minutes}}';
    expect(renderTemplate(src, { minutes: 15 }, en)).toBe('Locked for 15 min.');
    expect(renderTemplate(src, {}, en)).toBe('This sign-in was stopped.');
    expect(renderTemplate(src, { minutes: '' }, en)).toBe('This sign-in was stopped.');
    expect(requiredVariables(src)).toEqual([]);
  });

  it('names every missing required variable', () => {
    expect(() => renderTemplate('{{a}} {{b}} {{#c}}{{c}}{{/c}}', {}, en)).toThrow(
      TemplateVariablesMissing,
    );
    const error = catchError(() => renderTemplate('{{a}} {{b}}', { a: 'x' }, en));
    expect(error).toBeInstanceOf(TemplateVariablesMissing);
    expect((error as TemplateVariablesMissing).missing).toEqual(['b']);
  });

  it('keeps every variable on one line so a caller cannot forge the last line', () => {
    const out = renderTemplate(
      'Order {{orderId}} shipped.\n@{{host}} #{{code}}',
      { orderId: 'x\n@evil.test #999999', host: 'shop.test', code: '1' },
      en,
    );
    expect(out.split('\n')).toEqual(['Order x @evil.test #999999 shipped.', '@shop.test #1']);
  });

  it('masks, spaces digits and formats times in the given zone', () => {
    expect(renderTemplate('{{phone:masked}}', { phone: '+14155550123' }, en)).toBe(
      '+1 ••• ••• ••23',
    );
    expect(renderTemplate('{{code:spaced}}', { code: '123 456' }, en)).toBe('1, 2, 3, 4, 5, 6');
    expect(
      renderTemplate('{{at:time}}', { at: '2026-11-22T10:05:00Z', timeZone: 'Europe/Berlin' }, en),
    ).toBe('11:05');
    expect(renderTemplate('{{at:time}}', { at: '2026-11-22T10:05:00Z' }, en)).toBe('10:05');
  });

  it('formats dates per locale and zone, the same on every call, and an unknown zone as UTC', () => {
    const at = '2026-11-22T23:30:00Z';
    const render = (locale: string, timeZone?: string) =>
      renderTemplate(
        '{{at:date}} {{at:time}}',
        { at, ...(timeZone ? { timeZone } : {}) },
        { locale },
      );
    for (let i = 0; i < 3; i++) {
      expect(render('en')).toBe('Nov 22, 2026 23:30');
      expect(render('en', 'Asia/Tokyo')).toBe('Nov 23, 2026 08:30');
      expect(render('de', 'Asia/Tokyo')).toBe('23. Nov. 2026 08:30');
      expect(render('en', 'Not/AZone')).toBe('Nov 22, 2026 23:30');
    }
  });

  it('lists required variables outside sections', () => {
    expect(requiredVariables('{{code}} {{#url}}{{url}}{{/url}} {{host}} {{code}}')).toEqual([
      'code',
      'host',
    ]);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
