# agent-canary: one image for the `worker` and `gateway` processes (see docker-compose.yml).
# The sources run as TypeScript transpiled by swc on load (bin/register.js), exactly as in
# development. The one build step is the workflow bundle: the worker starts from it instead of
# running webpack at every start, and bundles anew by itself if the bundle ever disagrees with the
# sources (src/temporal/workflow-bundle.ts).
FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    AGENT_CANARY_CACHE_DIR=/tmp/agent-canary
WORKDIR /app

COPY package.json package-lock.json ./
# Runtime dependencies only.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
RUN npm run build:workflows

# `agent-canary` on the PATH; /data holds the gateway's split across restarts (a volume in compose).
RUN ln -s /app/bin/agent-canary.js /usr/local/bin/agent-canary \
 && mkdir -p /data \
 && chown node:node /data

USER node
CMD ["agent-canary", "--help"]
