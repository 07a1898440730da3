/**
 * The event-stream parser: the cases of the WHATWG standard's examples, and the property that
 * how the stream is cut into chunks never changes what comes out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseParser } from '../../src/client/sse-parser.js';

describe('SseParser', () => {
  it('parses events, ids, comments, multi-line data and every line ending', () => {
    const p = new SseParser();
    const out = p.push(
      ': comment\n\nretry: 1000\n\nevent: snapshot\nid: c1\ndata: {"a":1}\n\n' +
        'data: line1\r\ndata:line2\r\n\r\n' +
        'event: change\rid: c2\rdata: x\r\r' +
        'id: c3\nevent: ignored-without-data\n\n' +
        'data\n\nfield-unknown: 1\ndata: y\n\n',
    );
    expect(out).toEqual([
      { event: 'snapshot', data: '{"a":1}', id: 'c1' },
      { event: 'message', data: 'line1\nline2', id: 'c1' },
      { event: 'change', data: 'x', id: 'c2' },
      { event: 'message', data: '', id: 'c3' },
      { event: 'message', data: 'y', id: 'c3' },
    ]);
    expect(p.retryMs).toBe(1000);
  });

  it('waits for the end of an event before dispatching it', () => {
    const p = new SseParser();
    expect(p.push('event: change\nid: 1\ndata: {"k"')).toEqual([]);
    expect(p.push(':1}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'change', data: '{"k":1}', id: '1' }]);
  });

  it('does not split a CRLF across chunks into two line ends', () => {
    const p = new SseParser();
    expect(p.push('data: a\r')).toEqual([]);
    expect(p.push('\n\r\n')).toEqual([{ event: 'message', data: 'a', id: undefined }]);
  });

  it('refuses an endless line', () => {
    const p = new SseParser(10);
    expect(() => p.push('data: 0123456789abcdef')).toThrow(/longer than 10/);
  });

  it('gives the same events however the stream is chunked (property)', () => {
    const event = fc.record({
      event: fc.constantFrom('snapshot', 'change', 'message'),
      id: fc.string({ unit: fc.constantFrom('a', 'Z', '0', '_', '-'), minLength: 1, maxLength: 8 }),
      data: fc.array(fc.string({ unit: fc.constantFrom('x', ' ', ':', '{', '"', 'é', '€'), maxLength: 10 }), {
        minLength: 1,
        maxLength: 3,
      }),
    });
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 8 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.nat(), { maxLength: 10 }),
        (events, eol, cuts) => {
          const text = events
            .map(
              (e) =>
                `: c${eol}event: ${e.event}${eol}id: ${e.id}${eol}${e.data.map((d) => `data: ${d}${eol}`).join('')}${eol}`,
            )
            .join('');
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const p = new SseParser();
          const got = [];
          let from = 0;
          for (const at of [...points, text.length]) {
            got.push(...p.push(text.slice(from, at)));
            from = at;
          }
          got.push(...p.end());
          expect(got).toEqual(events.map((e) => ({ event: e.event, id: e.id, data: e.data.join('\n') })));
        },
      ),
      { numRuns: 300 },
    );
  });
});
