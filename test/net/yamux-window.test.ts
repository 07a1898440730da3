// Yamux window updates (src/net/yamux-window.ts): an established stream grants credit back once
// half its window is used, not after every frame; opening, paused and finished streams are
// yamux's own business. Then real traffic over the patched muxer: many small messages and one
// larger than the whole window, both ways.
import { describe, expect, it } from 'vitest';
import { EventGossip, type VerifiedEvent } from '../../src/net/gossip.js';
import { yamuxStreamPrototype } from '../../src/net/yamux-window.js';
import { chainedEvents, loopbackNode, newKey, signedEvent, stopAll, waitFor } from './helpers.js';

const WINDOW = 256 * 1024;

interface Frame {
  type: number;
  flag: number;
  length: number;
}

/** A yamux stream that has received `received` bytes of its window, and the frames it sent. */
function streamAfter(received: number, state = 3): { frames: Frame[]; update: () => void } {
  const proto = yamuxStreamPrototype();
  const frames: Frame[] = [];
  const stream = Object.assign(Object.create(proto) as { sendWindowUpdate: () => void }, {
    state,
    recvWindow: WINDOW,
    recvWindowCapacity: WINDOW - received,
    maxStreamWindowSize: 16 * 1024 * 1024,
    epochStart: Date.now(),
    getRTT: () => -1,
    sendFrame: (f: Frame) => frames.push(f),
  });
  return {
    frames,
    update: () => {
      stream.sendWindowUpdate();
    },
  };
}

describe('yamux window updates', () => {
  it('sends none while more than half the window is free, then grants all used credit back', async () => {
    // createSmacNode applies the patch; a node is the way the agent gets it.
    await stopAll([await loopbackNode()]);
    const small = streamAfter(1_000);
    small.update();
    expect(small.frames).toEqual([]);
    const half = streamAfter(WINDOW / 2);
    half.update();
    expect(half.frames).toHaveLength(1);
    expect(half.frames[0]).toMatchObject({ flag: 0, length: WINDOW / 2 });
  });

  it('leaves a stream that is still opening to yamux: its flag goes out at once', () => {
    const opening = streamAfter(10, 2); // SYNReceived: the update carries the ACK
    opening.update();
    expect(opening.frames).toHaveLength(1);
    expect(opening.frames[0]!.flag).not.toBe(0);
  });

  it('carries many small messages and ones larger than the window, both ways', async () => {
    const [ka, kb] = [await newKey(), await newKey()];
    const [a, b] = [await loopbackNode({ privateKey: ka }), await loopbackNode({ privateKey: kb })];
    try {
      const got = new Map<string, VerifiedEvent[]>([
        ['a', []],
        ['b', []],
      ]);
      const ga = new EventGossip({ pubsub: a.services.pubsub, onEvents: (i) => got.get('a')!.push(...i) });
      const gb = new EventGossip({ pubsub: b.services.pubsub, onEvents: (i) => got.get('b')!.push(...i) });
      ga.start();
      gb.start();
      await a.dial(b.getMultiaddrs()[0]!);
      await waitFor(() => ga.subscribers().length === 1 && gb.subscribers().length === 1, 'subscriptions');
      // The streams libp2p opened are the patched yamux streams (one module instance).
      const proto = yamuxStreamPrototype();
      const streams = a.getConnections().flatMap((c) => c.streams) as unknown as {
        sendWindowUpdate?: unknown;
      }[];
      expect(streams.length).toBeGreaterThan(0);
      for (const st of streams) expect(st.sendWindowUpdate).toBe(proto.sendWindowUpdate);
      // 2,000 single-event messages of about 200 bytes: several windows' worth of frames.
      const many = chainedEvents(ka, 1, 2000);
      for (const e of many) await ga.publish([e]);
      // One message of about 1 MiB, four windows at once.
      const bigEnvelopes = Array.from({ length: 1000 }, (_, i) =>
        signedEvent(kb, i + 1, { ops: [{ pad: 'x'.repeat(1000) }] }),
      );
      await gb.publish(bigEnvelopes);
      await waitFor(() => got.get('b')!.length === 2000, 'the small messages at B', { timeoutMs: 60_000 });
      await waitFor(() => got.get('a')!.length === 1000, 'the large message at A', { timeoutMs: 60_000 });
      expect(got.get('b')!.map((i) => i.event.seq)).toEqual(many.map((_, i) => i + 1));
    } finally {
      await stopAll([a, b]);
    }
  });
});
