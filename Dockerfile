# echod container image: echod (the daemon, ENTRYPOINT) and echo-probe (the client, for
# `helm test` and debugging: `--entrypoint /usr/local/bin/echo-probe`).
# Build: `make image` (docker when an engine answers, else buildah; see scripts/build-image.sh).

# ---- build stage ------------------------------------------------------------------------
FROM debian:bookworm-slim AS build
# Marks this stage's images so scripts/build-image.sh can prune them.
LABEL io.echod.stage=build
# The "build" tier of scripts/deps.sh (no test-only packages: tests are off in the image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config \
      libcpp-httplib-dev nlohmann-json3-dev prometheus-cpp-dev libcli11-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Build files first, then the sources (tests/ and bench/ are off, so not copied).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY service/ service/
COPY client/ client/
ARG REVISION=unknown
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
      -DECHOD_BUILD_TESTS=OFF -DECHOD_BUILD_BENCH=OFF \
      -DECHOD_VERSION_REVISION="${REVISION}" \
 && cmake --build /build -j "$(nproc)" \
 && strip /build/bin/echod /build/bin/echo-probe \
 && /build/bin/echod --version

# ---- runtime stage ----------------------------------------------------------------------
FROM debian:bookworm-slim
# Only the shared libraries the two binaries link (see `ldd`): cpp-httplib's compiled part
# and prometheus-cpp core; libstdc++6, libgcc-s1 and libc6 are already in the base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcpp-httplib0.11 libprometheus-cpp-core1.0 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
COPY --from=build /build/bin/echod /build/bin/echo-probe /usr/local/bin/
# Fail the build, not the pod, when a library is missing.
RUN ! ldd /usr/local/bin/echod /usr/local/bin/echo-probe | grep -q 'not found'

ARG REVISION=unknown
ARG CREATED=unknown
ARG CONTEXT_HASH=unknown
LABEL org.opencontainers.image.title="echod" \
      io.echod.context-hash="${CONTEXT_HASH}" \
      org.opencontainers.image.description="TCP echo microservice (RFC 862) with a Prometheus admin port, and echo-probe" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# 65532 = "nonroot" in distroless; numeric so Kubernetes can verify runAsNonRoot.
USER 65532:65532
EXPOSE 7007 8080
ENTRYPOINT ["/usr/local/bin/echod"]
