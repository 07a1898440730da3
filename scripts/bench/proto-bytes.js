// Bytes per protocol and per layer, counted inside one agent process (scale.js --protocols).
// A bench-only probe: it wraps `send` and `onData` of libp2p's message streams (one class in
// @libp2p/utils under every layer), so every byte is counted where it passes:
//
//   tcp     TCPSocketMultiaddrConnection: what goes on the wire (TCP payload, no headers)
//   pnet    BoxMessageStream: the cluster-key layer (same size as tcp once the nonce is sent)
//   yamux   EncryptedMessageStream: noise plaintext, i.e. yamux frames with their headers
//   <proto> YamuxStream: payload of the streams of each protocol (`(negotiating)` is
//           multistream-select before a protocol is agreed)
//
// For gossipsub it also splits received RPCs by content, re-encoding each part on its own:
// messages per topic (count and bytes), IHAVE, IWANT, IDONTWANT, GRAFT, PRUNE, subscriptions.
import { AbstractMessageStream } from '@libp2p/utils';
import { RPC } from '@libp2p/gossipsub/message';

const sent = new Map();
const received = new Map();
const rpc = new Map();
let installed = false;

function label(stream) {
  const cls = stream.constructor?.name ?? '?';
  if (cls === 'TCPSocketMultiaddrConnection') return 'tcp';
  if (cls === 'BoxMessageStream') return 'pnet';
  if (cls === 'EncryptedMessageStream') return 'yamux';
  if (typeof stream.protocol === 'string') return stream.protocol === '' ? '(negotiating)' : stream.protocol;
  return cls;
}

function add(map, key, bytes, n = 1) {
  const e = map.get(key) ?? { bytes: 0, count: 0 };
  e.bytes += bytes;
  e.count += n;
  map.set(key, e);
}

/** Patches the stream classes (once per process). */
export function installProtoBytes() {
  if (installed) return;
  installed = true;
  const proto = AbstractMessageStream.prototype;
  const send = proto.send;
  proto.send = function (data) {
    add(sent, label(this), data.byteLength);
    return send.call(this, data);
  };
  const onData = proto.onData;
  proto.onData = function (data) {
    add(received, label(this), data.byteLength);
    return onData.call(this, data);
  };
}

/** Splits the RPCs `pubsub` receives by content (call once per gossipsub instance). */
export function watchGossipsub(pubsub) {
  const handle = pubsub.handleReceivedRpc.bind(pubsub);
  pubsub.handleReceivedRpc = (from, r) => {
    for (const m of r.messages ?? []) add(rpc, `message ${m.topic}`, RPC.encode({ messages: [m] }).length);
    if (r.subscriptions?.length)
      add(
        rpc,
        'subscriptions',
        RPC.encode({ subscriptions: r.subscriptions }).length,
        r.subscriptions.length,
      );
    const c = r.control;
    if (c) {
      for (const kind of ['ihave', 'iwant', 'graft', 'prune', 'idontwant']) {
        const parts = c[kind];
        if (parts?.length) add(rpc, kind, RPC.encode({ control: { [kind]: parts } }).length, parts.length);
      }
    }
    return handle(from, r);
  };
}

const obj = (m) => Object.fromEntries([...m].map(([k, v]) => [k, { ...v }]));

/** Counters so far: { sent, received, rpcReceived }, each label -> { bytes, count }. */
export function protoBytes() {
  return { sent: obj(sent), received: obj(received), rpcReceived: obj(rpc) };
}
