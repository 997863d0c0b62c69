import { carrierErrorOfHttp, parseRetryAfter } from './http-errors';

describe('carrierErrorOfHttp', () => {
  it('maps 400 with 21211 (invalid number) to a non-retryable recipient error', () => {
    expect(carrierErrorOfHttp('http-b', 400, 21211, null)).toMatchObject({
      retryable: false,
      kind: 'recipient',
      providerCode: '21211',
    });
    expect(carrierErrorOfHttp('http-b', 400, 21610, null)).toMatchObject({
      retryable: false,
      kind: 'recipient',
    });
  });

  it('maps 429 to throttled with the Retry-After', () => {
    expect(carrierErrorOfHttp('c', 429, 20429, '2')).toMatchObject({
      retryable: true,
      kind: 'throttled',
      retryAfterMs: 2000,
    });
  });

  it('maps 5xx and credential errors to unavailable and other 4xx to rejected', () => {
    expect(carrierErrorOfHttp('c', 503, undefined, null)).toMatchObject({
      retryable: true,
      kind: 'unavailable',
      providerCode: 'http_503',
    });
    expect(carrierErrorOfHttp('c', 401, 20003, null)).toMatchObject({
      retryable: true,
      kind: 'unavailable',
    });
    expect(carrierErrorOfHttp('c', 400, 21602, null)).toMatchObject({
      retryable: true,
      kind: 'rejected',
    });
  });

  it('never puts more than the status and code in the message', () => {
    expect(carrierErrorOfHttp('c', 400, 21211, null).message).toBe('c: HTTP 400 code 21211');
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
