/**
 * The dashboard (docs/ui.md): a static page at `/ui` with its script and style sheet, the
 * login that trades a one-time code for a session cookie, and the route `smac ui` calls to
 * get such a code. Registered only when the agent runs with `--ui`.
 *
 * On TCP every route needs the bearer token (app.ts). A browser cannot send it, so a session
 * cookie (ui-sessions.ts) is accepted instead, but only on the read-only routes the page
 * itself uses (UI_COOKIE_ROUTES, GET and HEAD; watches of `_sys/` only): the cookie can never
 * write, read user objects, force-leave a member or mint another code. It is HttpOnly (no script reads it) and SameSite=Strict (no
 * other site's page sends it).
 */
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { DASHBOARD_HTML, DASHBOARD_CSS } from '../../ui/page.js';
import { DASHBOARD_JS, DASHBOARD_WATCH_PREFIX } from '../../ui/dashboard-script.js';
import type { RouteModule } from '../app.js';
import { ApiError, ApiErrorCode } from '../errors.js';
import { ErrorBody } from '../schemas.js';
import { UI_COOKIE_PREFIX, uiCookieValues, type UiSessions } from '../ui-sessions.js';

/** Routes (as registered) a session cookie authorizes: the page and what it reads. */
export const UI_COOKIE_ROUTES: ReadonlySet<string> = new Set([
  '/ui',
  '/ui/dashboard.js',
  '/ui/dashboard.css',
  '/v1/status',
  '/v1/members',
  '/v1/services',
  '/v1/services/:name',
  '/v1/load',
  '/v1/load/:metric',
  '/v1/watch',
]);

/** The route that checks a login code itself, so the listener's auth lets it through. */
export const UI_LOGIN_ROUTE = '/ui/login';

/** Whether `request` may pass the TCP listener's auth without a bearer token. */
export function uiAuthorizes(request: FastifyRequest, sessions: UiSessions): boolean {
  const route = request.routeOptions.url;
  const method = request.method;
  if (route === undefined || (method !== 'GET' && method !== 'HEAD')) return false;
  if (route === UI_LOGIN_ROUTE) return method === 'GET';
  if (!UI_COOKIE_ROUTES.has(route)) return false;
  // The page watches the system objects only; a watch of any other prefix would read user objects.
  if (route === '/v1/watch' && !watchesSystemObjects(request.query)) return false;
  return uiCookieValues(request.headers.cookie).some((v) => sessions.valid(v));
}

function watchesSystemObjects(query: unknown): boolean {
  const prefix = (query as { prefix?: unknown } | undefined)?.prefix;
  return typeof prefix === 'string' && prefix.startsWith(DASHBOARD_WATCH_PREFIX);
}

/** What every page response carries: nothing loads from elsewhere, nothing frames it, no referrer. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const LoginCodeReply = Type.Object({
  code: Type.String(),
  url: Type.String({ description: 'Open this in a browser: the TCP listener’s /ui/login with the code.' }),
  expiresInMs: Type.Integer(),
});

export function uiRouteModule(sessions: UiSessions): RouteModule {
  return {
    name: 'ui',
    register(app) {
      const asset = (path: string, type: string, body: string): void => {
        app.get(path, { schema: { hide: true } }, (_request, reply) =>
          reply.headers(PAGE_HEADERS).type(type).send(body),
        );
      };
      asset('/ui', 'text/html; charset=utf-8', DASHBOARD_HTML);
      asset('/ui/dashboard.js', 'text/javascript; charset=utf-8', DASHBOARD_JS);
      asset('/ui/dashboard.css', 'text/css; charset=utf-8', DASHBOARD_CSS);

      app.get(
        UI_LOGIN_ROUTE,
        {
          // A HEAD (a link preview, a prefetch) must not spend the code.
          exposeHeadRoute: false,
          schema: {
            summary: 'Trade a one-time code from `smac ui` for a dashboard session cookie',
            tags: ['ui'],
            querystring: Type.Object({ code: Type.String({ minLength: 1, maxLength: 200 }) }),
          },
        },
        (request, reply) => {
          const session = sessions.redeem(request.query.code);
          if (session === undefined) {
            throw new ApiError(
              ApiErrorCode.Unauthorized,
              'This login code is unknown, used or expired (a code works once, within a minute); ' +
                'run `smac ui` again for a new URL.',
            );
          }
          // One cookie per listener port: browsers keep cookies per host, not per port.
          const name = UI_COOKIE_PREFIX + String(request.socket.localPort ?? 'socket');
          return reply
            .headers(PAGE_HEADERS)
            .header(
              'set-cookie',
              `${name}=${session.session}; Path=/; Max-Age=${session.maxAgeSeconds}; HttpOnly; SameSite=Strict`,
            )
            .redirect('/ui', 303);
        },
      );

      app.post(
        '/v1/ui/login-codes',
        {
          schema: {
            summary: 'A one-time dashboard login URL (what `smac ui` prints)',
            tags: ['ui'],
            response: { 200: LoginCodeReply, 409: ErrorBody },
          },
        },
        () => {
          if (sessions.tcpUrl === undefined) {
            throw new ApiError(
              ApiErrorCode.UiNeedsTcp,
              'The dashboard is served on the TCP listener only (a browser cannot use the Unix socket); ' +
                'start the agent with --api-tcp as well as --ui.',
            );
          }
          const { code, expiresInMs } = sessions.issueCode();
          return { code, url: `${sessions.tcpUrl}${UI_LOGIN_ROUTE}?code=${code}`, expiresInMs };
        },
      );
    },
  };
}
