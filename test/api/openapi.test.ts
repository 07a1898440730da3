/**
 * GET /openapi.json, built on the first request (src/api/openapi.ts): every route of the app
 * is in it with its schemas, concurrent first requests get the same document, and later ones
 * the same again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import type { ApiApp } from '../../src/api/app.js';
import { createApiApp } from '../../src/api/server.js';
import { ReplicaAgent } from './helpers.js';

describe('the OpenAPI document', () => {
  let app: ApiApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('documents every route, extra route modules too, and is the same on every request', async () => {
    app = await createApiApp({
      agent: new ReplicaAgent(),
      version: '9.9.9',
      routes: [
        {
          name: 'extra',
          register(a) {
            a.get(
              '/v1/extra/:id',
              {
                schema: {
                  summary: 'An extra route',
                  params: Type.Object({ id: Type.String({ maxLength: 7 }) }),
                  response: { 200: Type.Object({ ok: Type.Boolean() }) },
                },
              },
              () => ({ ok: true }),
            );
          },
        },
      ],
    });
    const api = app;
    const [a, b] = await Promise.all([
      api.inject({ url: '/openapi.json' }),
      api.inject({ url: '/openapi.json' }),
    ]);
    expect(a.statusCode).toBe(200);
    expect(b.body).toBe(a.body);
    expect((await api.inject({ url: '/openapi.json' })).body).toBe(a.body);

    const doc = a.json();
    expect(doc.info).toMatchObject({ title: 'SMAC agent API', version: '9.9.9' });
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    const extra = doc.paths['/v1/extra/{id}'].get;
    expect(extra.summary).toBe('An extra route');
    expect(extra.parameters).toEqual([
      expect.objectContaining({
        in: 'path',
        name: 'id',
        required: true,
        schema: { type: 'string', maxLength: 7 },
      }),
    ]);
    expect(extra.responses['200'].content['application/json'].schema.properties.ok).toEqual({
      type: 'boolean',
    });
    // Hidden and HEAD routes stay out.
    expect(doc.paths['/openapi.json']).toBeUndefined();
    expect(Object.values(doc.paths).some((p) => Object.hasOwn(p as object, 'head'))).toBe(false);
    expect(doc.paths['/v1/status'].get).toBeDefined();
  });
});
