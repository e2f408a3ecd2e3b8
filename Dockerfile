# syntax=docker/dockerfile:1
# luaproxy's image. CI cannot pull base images, so it checks this file's
# structure (cmd/proxy/dockerfile_test.go) and runs the build stage's
# go build command line itself (.ci/run).
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t luaproxy .

# Build stage: a static binary (CGO off), version-stamped through build args.
FROM golang:1.26-bookworm AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/luaproxy ./cmd/proxy

# Runtime stage: distroless static has CA certificates (for rediss://
# upstreams) and a non-root user, and nothing else: no shell, so
# Kubernetes' preStop uses the kubelet's sleep, not an exec.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="luaproxy" \
      org.opencontainers.image.description="Redis proxy that runs Lua scripts and Redis Functions itself" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/luaproxy /usr/local/bin/luaproxy
USER nonroot:nonroot
# 6380: Redis protocol; 9180: /healthz, /readyz, /metrics.
EXPOSE 6380 9180
ENV LUAPROXY_LISTEN=0.0.0.0:6380 \
    LUAPROXY_ADMIN_LISTEN=0.0.0.0:9180
# No shell or curl in the image: the binary probes its own admin server.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s \
    CMD ["/usr/local/bin/luaproxy", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/luaproxy"]
