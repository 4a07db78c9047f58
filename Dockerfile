# syntax=docker/dockerfile:1
#
# deepgram-archiver as a long-running service: `docker run ... deepgram-archiver` runs `run`
# (a pass at start and on ARCHIVER_SCHEDULE; /healthz, /readyz, /metrics and a status page on
# port 9464). Any other command works too: `docker run --rm IMAGE status`.
#
# The final stage holds exactly what `npm pack` publishes plus production dependencies from the
# lockfile; test/db/image.test.ts repeats these steps outside Docker on every test run.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: dev dependencies, compile, pack --------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the build) needs the sources, copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY README.md .env.example ./
RUN npm run build \
 && npm pack --ignore-scripts --pack-destination /tmp \
 && mkdir /pkg \
 && tar -xzf /tmp/deepgram-archiver-*.tgz -C /pkg --strip-components=1 \
 && cp package-lock.json /pkg/

# ---- runtime: production dependencies only, non-root -----------------------------------------
FROM ${NODE_IMAGE}
# A larger young generation: the archiver allocates a page's worth of short-lived objects per
# request, and with the default the garbage collector took about a sixth of its CPU (bench/README.md).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=32 \
    ARCHIVER_HTTP_HOST=0.0.0.0 \
    ARCHIVER_HTTP_PORT=9464 \
    ARCHIVER_DATA_DIR=/data
WORKDIR /app
COPY --from=build /pkg ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm package-lock.json \
 && chmod 755 dist/src/cli.js \
 && ln -s /app/dist/src/cli.js /usr/local/bin/deepgram-archiver \
 && mkdir -p /data && chown node:node /data
# The embedded database (no DATABASE_URL) lives here; mount a volume. One container per volume.
VOLUME ["/data"]
USER node
EXPOSE 9464
# No curl in a slim image: Node's own fetch. /healthz answers 200 while the process lives.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ARCHIVER_HTTP_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM (docker stop) ends a pass cleanly within 10 s; the default stop grace period is 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["deepgram-archiver"]
CMD ["run"]
