/**
 * Length-prefixed frames over a libp2p 3 stream (varint length, then that many bytes), read
 * with flow control. libp2p 3 streams push data as 'message' events whether or not anyone is
 * reading, and yamux grants the sender more window as soon as data arrives; without a pause
 * a slow consumer (an agent applying 100k events) would buffer everything the peer sends.
 * FrameReader pauses the stream once `highWaterBytes` are buffered and a whole frame is
 * waiting, which stops yamux window updates and so the sender; it resumes when it needs bytes.
 *
 * lpStream from @libp2p/utils frames the same way but never pauses, so its buffer overflows
 * (and the stream is reset) behind a slow consumer.
 */
import type { Stream } from '@libp2p/interface';
import { varintSize, Writer } from '../core/codec/index.js';
import { NetErrorCode, netFail } from './errors.js';

/**
 * Bytes the sender may still push after we pause: yamux's largest stream window (16 MiB).
 * The stream keeps them in its own buffer while paused and resets past maxReadBufferLength.
 */
const YAMUX_MAX_WINDOW_BYTES = 16 * 1024 * 1024;

/** A varint for up to 2^35-1; frame lengths are bounded far below. */
const MAX_LENGTH_BYTES = 5;

export interface FrameReaderOptions {
  /** Largest frame accepted; a longer announced length fails the read with BAD_FRAME. */
  readonly maxFrameBytes: number;
  /** Unread bytes at which the stream is paused (default 1 MiB). */
  readonly highWaterBytes?: number;
  /** Names the protocol in error messages. */
  readonly what: string;
}

export class FrameReader {
  private readonly chunks: Uint8Array[] = [];
  private head = 0; // offset into chunks[0]
  private buffered = 0;
  private ended = false;
  private failure: Error | undefined;
  private paused = false;
  private peak = 0;
  private wake: (() => void) | undefined;
  private readonly highWaterBytes: number;

  constructor(
    private readonly stream: Stream,
    private readonly opts: FrameReaderOptions,
  ) {
    this.highWaterBytes = opts.highWaterBytes ?? 1024 * 1024;
    stream.maxReadBufferLength = Math.max(
      stream.maxReadBufferLength,
      YAMUX_MAX_WINDOW_BYTES + opts.maxFrameBytes,
    );
    stream.addEventListener('message', this.onMessage);
    stream.addEventListener('end', this.onEnd);
    stream.addEventListener('close', this.onClose);
    if (stream.readableEnded) this.ended = true;
  }

  /**
   * The next frame, or undefined when the remote closed its side cleanly between frames.
   * Throws NetError BAD_FRAME for an oversized or truncated frame, the stream's error if it
   * was reset, or the abort reason of `signal`.
   */
  async next(signal?: AbortSignal): Promise<Uint8Array | undefined> {
    for (;;) {
      const frame = this.take();
      if (frame !== undefined) return frame;
      if (this.ended || this.failure) {
        if (this.failure) throw this.failure;
        if (this.buffered === 0) return undefined;
        netFail(NetErrorCode.BadFrame, `The ${this.opts.what} stream ended in the middle of a frame.`);
      }
      if (this.paused) {
        // Resuming delivers what the stream held back, synchronously: look again before waiting.
        this.setPaused(false);
        continue;
      }
      await this.waitForData(signal);
    }
  }

  /** The most bytes this reader ever held unread: what flow control bounds. */
  get peakBufferedBytes(): number {
    return this.peak;
  }

  /** Detaches from the stream; call when done with it. */
  release(): void {
    this.stream.removeEventListener('message', this.onMessage);
    this.stream.removeEventListener('end', this.onEnd);
    this.stream.removeEventListener('close', this.onClose);
    this.setPaused(false);
    this.wake?.();
  }

  private take(): Uint8Array | undefined {
    let length = 0;
    let scale = 1;
    let headerBytes = 0;
    for (;;) {
      if (headerBytes >= this.buffered) return undefined;
      const b = this.byteAt(headerBytes);
      headerBytes++;
      length += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
      if (headerBytes >= MAX_LENGTH_BYTES) {
        netFail(NetErrorCode.BadFrame, `A ${this.opts.what} frame has an overlong length prefix.`);
      }
    }
    if (length > this.opts.maxFrameBytes) {
      netFail(
        NetErrorCode.BadFrame,
        `A ${this.opts.what} frame announces ${length} bytes; the limit is ${this.opts.maxFrameBytes}.`,
        { details: { bytes: length, limit: this.opts.maxFrameBytes } },
      );
    }
    if (this.buffered < headerBytes + length) return undefined;
    this.skip(headerBytes);
    return this.read(length);
  }

  private byteAt(offset: number): number {
    let i = 0;
    let pos = this.head + offset;
    for (;;) {
      const chunk = this.chunks[i];
      if (chunk === undefined) return 0; // unreachable: callers check `buffered`
      if (pos < chunk.length) return chunk[pos] ?? 0;
      pos -= chunk.length;
      i++;
    }
  }

  private skip(n: number): void {
    this.read(n);
  }

  private read(n: number): Uint8Array {
    const first = this.chunks[0];
    let out: Uint8Array;
    if (first !== undefined && first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.chunks[0];
        if (chunk === undefined) break;
        const part = chunk.subarray(this.head, Math.min(chunk.length, this.head + n - filled));
        out.set(part, filled);
        filled += part.length;
        this.head += part.length;
        if (this.head === chunk.length) {
          this.chunks.shift();
          this.head = 0;
        }
      }
    }
    this.buffered -= n;
    return out;
  }

  private setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    try {
      if (paused) this.stream.pause();
      else this.stream.resume();
      this.paused = paused;
    } catch {
      // The stream is closing: there is nothing left to pause or resume.
      this.paused = false;
    }
  }

  private async waitForData(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.wake = undefined;
        reject(signal?.reason as Error);
      };
      this.wake = () => {
        this.wake = undefined;
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private readonly onMessage = (evt: { data: Uint8Array | Iterable<Uint8Array> }): void => {
    const { data } = evt;
    if (data instanceof Uint8Array) this.push(data);
    else for (const chunk of data) this.push(chunk);
    // Pause only while a whole frame waits to be read, so a frame larger than the high-water
    // mark can still arrive in full.
    if (this.buffered >= this.highWaterBytes && this.hasWholeFrame()) this.setPaused(true);
    this.wake?.();
  };

  private push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered > this.peak) this.peak = this.buffered;
  }

  private hasWholeFrame(): boolean {
    let length = 0;
    let scale = 1;
    for (let i = 0; i < MAX_LENGTH_BYTES && i < this.buffered; i++) {
      const b = this.byteAt(i);
      length += (b & 0x7f) * scale;
      if (b < 0x80) return this.buffered >= i + 1 + length;
      scale *= 128;
    }
    return false;
  }

  private readonly onEnd = (): void => {
    this.ended = true;
    this.wake?.();
  };

  private readonly onClose = (evt: { error?: Error }): void => {
    if (evt.error) {
      this.ended = true;
      this.failure = evt.error;
    } else if (this.stream.readBufferLength === 0) {
      this.ended = true;
    }
    // Otherwise the stream closed while paused and still holds data for us: resuming delivers
    // it, and 'end' follows once it is drained.
    this.wake?.();
  };
}

/** Length prefix + payload, in one buffer (one stream message). */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  return new Writer(varintSize(payload.length) + payload.length).lenBytes(payload).finish();
}

/** Writes one frame, waiting for the stream to drain when its send buffer is full. */
export async function writeFrame(stream: Stream, payload: Uint8Array, signal?: AbortSignal): Promise<void> {
  if (!stream.send(encodeFrame(payload))) await stream.onDrain(signal ? { signal } : {});
}
