# One image recipe for every phonegate program. Build one image per program:
#
#   docker build --build-arg SERVICE=identity     -t phonegate/identity .
#   docker build --build-arg SERVICE=otp          -t phonegate/otp .
#   docker build --build-arg SERVICE=notifier     -t phonegate/notifier .
#   docker build --build-arg SERVICE=delivery-otp -t phonegate/delivery-otp .
#   docker build --build-arg SERVICE=carrier-sim  -t phonegate/carrier-sim .
#
# SERVICE becomes an ENV of the image (deploy/docker/launch.cjs reads it), so it
# can also be overridden at run time. Works with BuildKit and the classic builder.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- manifests: only the package.json files and the lock, so the `npm ci`
# layers below stay cached while only source code changes.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir -p /manifests \
 && cp package.json package-lock.json /manifests/ \
 && find libs services tools -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /manifests/ \;

# ---- build: every dependency (SWC is a dev dependency), then `npm run build`,
# which compiles each package's src/ into its dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN set -e; \
    npm run build; \
    mkdir -p /out; \
    cp package.json /out/; \
    for dir in libs/* services/* tools/*; do \
      if [ -d "$dir/dist" ]; then mkdir -p "/out/$dir"; cp -R "$dir/dist" "/out/$dir/dist"; fi; \
      if [ -f "$dir/package.json" ]; then mkdir -p "/out/$dir"; cp "$dir/package.json" "/out/$dir/"; fi; \
    done

# ---- prod-deps: production dependencies only (no SWC, jest, eslint, nx).
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime
FROM ${NODE_IMAGE} AS runtime
ARG SERVICE=identity
ENV NODE_ENV=production \
    SERVICE=${SERVICE}
# Memory (issue #8: each service under 200 MB resident at steady load; tools/stack/src/runtime.ts
# has the reasons and figures, and the stack runs its processes with the same):
# - V8 collects the old generation at ~1.3x the live heap instead of letting garbage grow to
#   2-4x it (the default heap limit is a quarter of the host's memory);
# - glibc malloc: one arena instead of one per thread; blocks of 4 MiB and more (identity's
#   argon2id, 19 MiB per hash) mapped and returned on free, on transparent huge pages.
# A deployment may set either variable itself (its value replaces this one).
ENV NODE_OPTIONS=--max-old-space-size=256 \
    GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=4194304:glibc.malloc.hugetlb=1
WORKDIR /app
# Code and dependencies belong to root and are read-only for the process; the
# root file system can be mounted read-only (Kubernetes does).
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /out/ ./
COPY deploy/docker/launch.cjs deploy/docker/healthcheck.cjs ./deploy/docker/
# The node image's unprivileged user, by number so Kubernetes' runAsNonRoot
# can verify it.
USER 1000:1000
# Readiness of the service on $PORT (deploy/docker/healthcheck.cjs; no curl here).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/deploy/docker/healthcheck.cjs"]
# No --enable-source-maps: it parses and keeps the source map of every module loaded (NestJS,
# TypeORM... ship theirs), 12 MB of heap per service and a slower start. Stack traces name
# dist/*.js (SWC output, close to the source); NODE_OPTIONS=--enable-source-maps brings the
# TypeScript positions back when debugging (the .map files are in the image).
CMD ["node", "/app/deploy/docker/launch.cjs"]
