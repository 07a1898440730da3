# syntax=docker/dockerfile:1
# The SMAC agent image (docs/deploy.md). Node 24, the current LTS; built once, production
# dependencies only; runs as uid/gid 7946 (not root). State lives in the volume /var/lib/smac
# (identity key, store, API token; private, 0700); the API socket lives apart, in
# /run/smac/smac.sock, so that application containers mount /run/smac and never the data.
#
# scripts/docker/replay.js replays these steps without a Docker engine (`npm run test:docker`):
# it runs each RUN under sh with its absolute paths moved under the stage's directory.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# No install scripts: no dependency needs one (no native addons), and the `node`
# devDependency's would download a second Node runtime the image already has.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
# The agent bundle's build script (npm run build runs it after tsc).
COPY scripts/build ./scripts/build
# Built once (npm ci skipped `prepare`), then the dev dependencies go.
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
  SMAC_DATA_DIR=/var/lib/smac \
  SMAC_API_SOCKET=/run/smac/smac.sock \
  SMAC_SOCKET=/run/smac/smac.sock \
  SMAC_LISTEN=/ip4/0.0.0.0/tcp/7946
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The data volume is private to the agent; the socket's directory is open to its group.
RUN mkdir -p /var/lib/smac /run/smac \
  && chown 7946:7946 /var/lib/smac /run/smac \
  && chmod 0700 /var/lib/smac \
  && chmod 0750 /run/smac
# A numeric user: no passwd entry needed. Application containers get the group 7946
# (--group-add 7946, supplementalGroups) to use the socket (mode 0660, group 7946).
USER 7946:7946
VOLUME ["/var/lib/smac"]
# libp2p (replication, membership). The REST API is the socket; TCP 7947 only with --api-tcp.
EXPOSE 7946/tcp
# SIGTERM: the agent leaves gracefully (a last heartbeat marked leaving, pending writes
# committed). Node handles the signals it registers even as PID 1; `docker run --init` or
# compose `init: true` adds an init that also reaps stray processes.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/dist/bundle/main.js", "health"]
# The agent's bundle (scripts/build/agent-bundle.js): the same code as dist/cli/main.js, in a few
# minified files; an idle agent's memory is about 15 MB smaller (docs/benchmarks.md "Idle memory").
ENTRYPOINT ["node", "/app/dist/bundle/main.js"]
CMD ["agent"]
