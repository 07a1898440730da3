/**
 * Yamux window updates once half the window is used, not after every frame (issue 8, "Local
 * writes ...": CPU per write; docs/performance.md "Yamux window updates").
 *
 * @chainsafe/libp2p-yamux 8 answers every data frame a stream receives with a window-update
 * frame granting the bytes back. Each gossip message is one data frame, so every message cost
 * its receiver one more frame to encrypt (noise) and write to the socket, and its sender one
 * more to read, decrypt and parse: about 6% of a receiving agent's busy time at c=16 in a
 * three-agent cluster. The yamux specification leaves the timing to the receiver; go-yamux
 * and rust-yamux send an update once half the window or more has been consumed, which is what
 * the patch does for an established stream. The sender's credit then never falls below half a
 * window (128 KiB by default) before the update is on its way, so flow control still throttles
 * a sender, and large messages (sync frames, 4 MiB gossip RPCs) still flow: the stream's window
 * growth (doubling when half a window is consumed within four round trips) is yamux's own and
 * runs at each update, as before.
 *
 * Everything else goes to yamux's own method unchanged: a stream that is opening (its SYN or
 * ACK flag rides on the update), paused, or finished.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

/** The fields of a yamux stream the patch reads. */
interface WindowState {
  state: number;
  recvWindow: number;
  recvWindowCapacity: number;
}

interface StreamProto extends WindowState {
  sendWindowUpdate: (this: WindowState) => void;
}

/** yamux's StreamState.Established (stream.js). */
const ESTABLISHED = 3;
const PATCHED = Symbol.for('smac.yamux-window-patched');

/**
 * The YamuxStream prototype of the @chainsafe/libp2p-yamux instance libp2p loads: the package's
 * `./stream` export is the module its muxer imports, so unbundled and in the agent's bundle
 * (scripts/build/agent-bundle.js) alike the patch reaches the streams in use.
 */
export function yamuxStreamPrototype(): StreamProto {
  if ((StreamState.Established as number) !== ESTABLISHED)
    throw new Error('@chainsafe/libp2p-yamux changed its stream states; review src/net/yamux-window.ts');
  return YamuxStream.prototype as unknown as StreamProto;
}

/** Applies the patch to `proto` (idempotent). */
export function patchYamuxWindow(proto: StreamProto): void {
  const marked = proto as StreamProto & { [PATCHED]?: true };
  if (marked[PATCHED]) return;
  const original = proto.sendWindowUpdate;
  proto.sendWindowUpdate = function sendWindowUpdate(this: WindowState): void {
    // Half the window or more still free: the sender has ample credit; nothing to send yet.
    if (this.state === ESTABLISHED && this.recvWindowCapacity * 2 > this.recvWindow) return;
    original.call(this);
  };
  marked[PATCHED] = true;
}
