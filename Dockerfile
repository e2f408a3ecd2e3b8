# syntax=docker/dockerfile:1
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
# upstreams) and a non-root user, and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/luaproxy /usr/local/bin/luaproxy
USER nonroot:nonroot
# 6380: Redis protocol; 9180: /healthz, /readyz, /metrics.
EXPOSE 6380 9180
ENV LUAPROXY_LISTEN=0.0.0.0:6380 \
    LUAPROXY_ADMIN_LISTEN=0.0.0.0:9180
ENTRYPOINT ["/usr/local/bin/luaproxy"]
