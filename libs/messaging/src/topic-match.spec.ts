import { bindingCoversType, topicMatches } from './topic-match';

describe('topicMatches', () => {
  it.each([
    ['a.b.c', 'a.b.c', true],
    ['a.*.c', 'a.b.c', true],
    ['a.*', 'a.b.c', false],
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['#', 'x.y', true],
    ['#.c', 'a.b.c', true],
    ['a.#.c', 'a.c', true],
    ['a.#.d', 'a.b.c', false],
  ])('%s vs %s → %s', (pattern, key, expected) => {
    expect(topicMatches(pattern, key)).toBe(expected);
  });
});

describe('bindingCoversType', () => {
  it('counts a binding to a routing suffix of the type as covering it', () => {
    expect(
      bindingCoversType('notification.requested.v1.critical', 'notification.requested.v1'),
    ).toBe(true);
    expect(bindingCoversType('notification.requested.v1', 'notification.requested.v1')).toBe(true);
    expect(bindingCoversType('notification.#', 'notification.requested.v1')).toBe(true);
    expect(bindingCoversType('identity.phone.added.v1', 'notification.requested.v1')).toBe(false);
  });
});
