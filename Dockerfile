# SMAC agent image. Node 24 LTS; the agent keeps its state under /var/lib/smac.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci && npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
VOLUME ["/var/lib/smac"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["agent", "--data-dir", "/var/lib/smac"]
