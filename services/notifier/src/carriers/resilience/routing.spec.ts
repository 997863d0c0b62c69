import { routeCandidates, type RouteRule } from './routing';

const rules: RouteRule[] = [
  { carrierId: 'smpp-a', channels: ['sms'], countries: ['+1'] },
  { carrierId: 'http-b', channels: ['sms', 'voice'], countries: ['*'] },
  { carrierId: 'smpp-uk', channels: ['sms'], countries: ['+44', '+353'] },
  { carrierId: 'smtp-main', channels: ['email'], countries: ['+1'] },
];

describe('routeCandidates', () => {
  it('keeps the preference order and drops carriers whose countries do not match', () => {
    const prefs = { sms: ['smpp-uk', 'smpp-a', 'http-b'] };
    expect(routeCandidates('sms', '+14155550123', prefs, rules)).toEqual(['smpp-a', 'http-b']);
    expect(routeCandidates('sms', '+447700900123', prefs, rules)).toEqual(['smpp-uk', 'http-b']);
    expect(routeCandidates('sms', '+33612345678', prefs, rules)).toEqual(['http-b']);
  });

  it('drops carriers that do not serve the channel, unknown ids and duplicates', () => {
    expect(
      routeCandidates(
        'voice',
        '+14155550123',
        { voice: ['smpp-a', 'nope', 'http-b', 'http-b'] },
        rules,
      ),
    ).toEqual(['http-b']);
  });

  it('ignores countries for e-mail and answers nothing for an unconfigured channel', () => {
    expect(routeCandidates('email', 'ann@example.com', { email: ['smtp-main'] }, rules)).toEqual([
      'smtp-main',
    ]);
    expect(routeCandidates('email', 'ann@example.com', {}, rules)).toEqual([]);
  });
});
