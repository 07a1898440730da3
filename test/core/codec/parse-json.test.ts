// Decoded JSON is plain JSON: numbers that overflow to ±Infinity are refused (found by the
// snapshot decoder fuzz test: a mutated digit turned a value into 1e+999, which decoded and
// then could not be encoded again).
import { describe, expect, it } from 'vitest';
import { parseJson } from '../../../src/core/codec/event-codec.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('parseJson', () => {
  it.each(['1e999', '{"a":[1,-1e400]}', '1' + '0'.repeat(400), '-' + '9'.repeat(310) + '.5'])(
    'refuses %s (not finite) with DECODE_ERROR',
    (text) => {
      expect(() => parseJson(utf8(text), 'value')).toThrow(expect.objectContaining({ code: 'DECODE_ERROR' }));
    },
  );

  it.each([
    ['"1e999"', '1e999'],
    ['1e308', 1e308],
    ['{"x":"' + '9'.repeat(400) + '"}', { x: '9'.repeat(400) }],
    ['[5e-324, 1.5]', [5e-324, 1.5]],
  ])('accepts %s', (text, value) => {
    expect(parseJson(utf8(text), 'value')).toEqual(value);
  });
});
