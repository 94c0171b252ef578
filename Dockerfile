# echod container image: echod (the daemon, ENTRYPOINT) and echo-probe (the client, for
# `helm test` and debugging: `--entrypoint /usr/local/bin/echo-probe`).
# Build: `make image` (docker when an engine answers, else buildah in storage of its own under
# the build folder; see scripts/build-image.sh). Plain Dockerfile syntax (no heredocs, no
# BuildKit-only flags): `docker build .` and `buildah bud` both build it.
#
# The runtime image is FROM scratch: the two stripped binaries, exactly the shared libraries
# `ldd` says they load (and the dynamic loader), CA certificates (for TLS peers that verify
# against the system store), /etc/passwd, /etc/group and /etc/nsswitch.conf. No shell, no
# package manager, no libc tools.

# ---- build stage ------------------------------------------------------------------------
FROM debian:bookworm-slim AS build
# Marks this stage's images so scripts/build-image.sh can prune them from its own storage.
LABEL io.echod.stage=build
# The "build" tier of scripts/deps.sh (no test-only packages: tests are off in the image),
# plus ca-certificates for the runtime image's trust store.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake g++ make pkg-config ca-certificates \
      libcpp-httplib-dev nlohmann-json3-dev prometheus-cpp-dev libcli11-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Build files first, then the sources (tests/ and bench/ are off, so not copied).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY common/ common/
COPY service/ service/
COPY client/ client/
ARG REVISION=unknown
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
      -DECHOD_BUILD_TESTS=OFF -DECHOD_BUILD_BENCH=OFF \
      -DECHOD_VERSION_REVISION="${REVISION}" \
 && cmake --build /build -j "$(nproc)" \
 && strip /build/bin/echod /build/bin/echo-probe \
 && /build/bin/echod --version

# The runtime root filesystem, assembled here because the runtime stage has no shell.
# Libraries: whatever `ldd` resolves for the two binaries (path kept as the loader found
# it), the loader itself, and no hand-written list. A library that does not resolve fails
# the build, not the pod. glibc >= 2.34 has nss_files/nss_dns built in, so names in
# /etc/hosts and DNS resolve without dlopen()ed NSS modules.
RUN set -eu; \
    mkdir -p /rootfs/usr/local/bin /rootfs/etc/ssl/certs; \
    cp /build/bin/echod /build/bin/echo-probe /rootfs/usr/local/bin/; \
    ldd /build/bin/echod /build/bin/echo-probe > /tmp/ldd.txt; \
    cat /tmp/ldd.txt; \
    if grep -q 'not found' /tmp/ldd.txt; then exit 1; fi; \
    libs="$(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' /tmp/ldd.txt | sort -u)"; \
    test -n "$libs"; \
    for lib in $libs; do cp -L --parents "$lib" /rootfs/; done; \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' > /rootfs/etc/passwd; \
    printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' > /rootfs/etc/nsswitch.conf; \
    chroot /rootfs /usr/local/bin/echod --version; \
    chroot /rootfs /usr/local/bin/echo-probe --help > /dev/null; \
    find /rootfs \( -type f -o -type l \) -printf '%s\t%p\n' | sort -k2

# ---- runtime stage ----------------------------------------------------------------------
FROM scratch
COPY --from=build /rootfs/ /

ARG REVISION=unknown
ARG CREATED=unknown
ARG CONTEXT_HASH=unknown
LABEL org.opencontainers.image.title="echod" \
      io.echod.context-hash="${CONTEXT_HASH}" \
      org.opencontainers.image.description="TCP echo microservice (RFC 862) with a Prometheus admin port, and echo-probe" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="scratch"

# 65532 = "nonroot" in distroless; numeric so Kubernetes can verify runAsNonRoot.
USER 65532:65532
EXPOSE 7007 7443 8080
ENTRYPOINT ["/usr/local/bin/echod"]
