#!/usr/bin/env node
// The agent's bundle (docs/benchmarks.md "Idle memory"): dist/cli/main.js as tsc built it, with
// every module it imports, minified, in dist/bundle/ (`npm run build` writes it after tsc). It
// runs the same code as dist/cli/main.js; `npm start` and the image run it. Unbundled, an agent
// loads about 8 MB of module source from 120 packages, and V8 keeps each module's source and
// structures in its heap for the life of the process; bundled, an idle agent is about 15 MB
// smaller. dist/ stays as tsc writes it for the SDK, the `smac` command and the tests.
//
// One chunk per package (and the app's own modules by entry and dynamic import): what the
// agent imports only when used (the template command, mDNS, the Consul and DNS listeners,
// @fastify/swagger) still loads only then, and no single file is so large that parsing it at
// start leaves megabytes of freed parser memory stranded in malloc (one 2 MB chunk did).
//
// @chainsafe/libp2p-yamux is bundled: src/net/yamux-window.ts patches the stream module through
// the package's `./stream` export, the module the bundled muxer imports too. (Kept out, as it
// was in session 8, yamux loaded its own copies of @libp2p/utils, multiformats, cborg and a
// dozen more packages from node_modules: 0.5 MB of module source twice.)
//
// Kept out, loaded from node_modules at run time if ever:
// - xsalsa20: src/net/pnet-cipher.ts patches the instance that @libp2p/pnet loads, which it
//   finds through node_modules; bundled, pnet would use its own copy, which the patch misses.
// - light-my-request, @fastify/ajv-compiler and @fastify/fast-json-stringify-compiler: Fastify
//   requires them only for inject() and for a default validator and serializer (the API brings
//   its own: src/api/server.ts, src/api/serializer.ts). Bundled, their source (with ajv's,
//   which fast-json-stringify requires) would be loaded at start all the same, with the chunk
//   that requires them.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'rolldown';

const root = join(import.meta.dirname, '..', '..');
const outDir = join(root, 'dist', 'bundle');

/** The package a module belongs to (`@scope_name`), or null for SMAC's own modules. */
function packageOf(id) {
  const i = id.lastIndexOf('/node_modules/');
  if (i < 0) return null;
  const [first = '', second = ''] = id.slice(i + '/node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first.slice(1)}_${second}` : first;
}

rmSync(outDir, { recursive: true, force: true });
await build({
  input: { main: join(root, 'dist', 'cli', 'main.js') },
  platform: 'node',
  external: [
    'xsalsa20',
    'light-my-request',
    '@fastify/ajv-compiler',
    '@fastify/fast-json-stringify-compiler',
  ],
  // Chunks by package (below) may add exports to the entry; nothing imports it.
  preserveEntrySignatures: 'allow-extension',
  logLevel: 'warn',
  onLog(level, log, handler) {
    // libp2p imports @multiformats/multiaddr statically too; the agent's dynamic import of it
    // then just finds it loaded. Not a problem.
    if (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT') return;
    handler(level, log);
  },
  output: {
    dir: outDir,
    format: 'esm',
    minify: true,
    comments: false,
    codeSplitting: {
      includeDependenciesRecursively: false,
      groups: [{ name: packageOf, debugName: 'package' }],
    },
  },
});
