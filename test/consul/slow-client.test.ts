// The listener has the REST API's slow-client guard (a request must arrive in time), and that
// guard never cuts a blocking query, whose answer may take its whole wait.
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConsulServer, startConsulServer } from '../../src/consul/server.js';
import { FakeSource } from './fake-source.js';

const TOKEN = 'a'.repeat(32);
let server: ConsulServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('slow clients', () => {
  it('closes a connection whose request does not arrive in time, but lets a blocking query wait longer', async () => {
    const source = new FakeSource();
    source.register('web', { id: 'web-1', node: 'node-a' });
    server = await startConsulServer({
      source,
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      requestTimeoutMs: 200,
    });
    const url = `${server.url}/v1/health/service/web`;
    const headers = { 'x-consul-token': TOKEN };
    const first = await fetch(url, { headers });
    const index = first.headers.get('x-consul-index');
    // Waits well past the request timeout, then answers with the same index.
    const blocked = await fetch(`${url}?index=${index}&wait=1s`, { headers });
    expect(blocked.status).toBe(200);
    expect(blocked.headers.get('x-consul-index')).toBe(index);
    expect(((await blocked.json()) as unknown[]).length).toBe(1);

    // A client that sends half a request line and stops is cut off.
    const { port } = new URL(server.url);
    const closed = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('GET /v1/catalog/nodes HTTP/1.1\r\nHost: 127'),
      );
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      socket.on('close', () => {
        resolve(got);
      });
      socket.on('error', reject);
      setTimeout(() => {
        socket.destroy();
        reject(new Error('the connection stayed open for 20 s'));
      }, 20_000).unref();
    });
    expect(closed).toMatch(/^HTTP\/1\.1 408/);
  });
});
