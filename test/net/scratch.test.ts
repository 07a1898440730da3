import { it, expect } from 'vitest';
import type { Stream } from '@libp2p/interface';
import { FrameReader, writeFrame } from '../../src/net/frame-stream.js';
import { loopbackNode, stopAll } from './helpers.js';

for (const closeFirst of [false, true]) {
  it(`late reader closeFirst=${closeFirst}`, async () => {
    const [a, b] = [await loopbackNode(), await loopbackNode()];
    const frames = 300;
    let done = false;
    await a.handle('/t/1', async (stream: Stream) => {
      for (let i = 0; i < frames; i++) await writeFrame(stream, new Uint8Array(8000).fill(i % 256));
      await stream.close();
      done = true;
    });
    const stream = await b.dialProtocol(a.getMultiaddrs()[0]!, '/t/1');
    const reader = new FrameReader(stream, { maxFrameBytes: 1 << 20, what: 't' });
    if (closeFirst) await stream.close();
    await new Promise((r) => setTimeout(r, 1500));
    console.log('server done before read?', done, stream.status, stream.readStatus, stream.readBufferLength);
    let n = 0;
    try {
      while ((await reader.next(AbortSignal.timeout(3000))) !== undefined) n++;
    } catch (e) { console.log('ERR', String(e)); }
    console.log('frames', n, 'peak', reader.peakBufferedBytes);
    await stopAll([a, b]);
    expect(n).toBe(frames);
  });
}
