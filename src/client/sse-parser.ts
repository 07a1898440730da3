/**
 * Incremental parser of a server-sent-events stream (WHATWG HTML standard, §9.2.6
 * "Interpreting an event stream"): feed it text as it arrives, get whole events out.
 * Lines end in LF, CRLF or CR; `:` starts a comment; `data` lines join with LF; an event is
 * dispatched at a blank line, and one with no data is dropped. The `id` persists across events.
 */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private lastId: string | undefined;
  /** The last `retry:` the server asked for, in ms. */
  retryMs: number | undefined;

  constructor(
    /** Longest line accepted; a longer one means the peer is not an SSE server (or a broken one). */
    private readonly maxLineChars = 64 * 1024 * 1024,
  ) {}

  /** Parses `chunk` and returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const lf = this.buffer.indexOf('\n', start);
      const cr = this.buffer.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A CR at the very end may be the first half of a CRLF: wait for more.
        if (cr === this.buffer.length - 1) break;
        end = cr;
        next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else break;
      this.line(this.buffer.slice(start, end), out);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > this.maxLineChars) {
      throw new Error(`An event-stream line is longer than ${this.maxLineChars} characters.`);
    }
    return out;
  }

  /** At the end of the stream: a CR held back as a possible CRLF was a line end after all. */
  end(): SseEvent[] {
    if (!this.buffer.endsWith('\r')) return [];
    return this.push('\n');
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0)
        out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\u0000')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break; // unknown fields are ignored, as the standard says
    }
  }
}
