# Multi-stage build of waitroom's three binaries into small static images,
# one final image per binary:
#
#   docker build --target waitroom -t waitroom/waitroom .
#   docker build --target admitter -t waitroom/admitter .
#   docker build --target booking  -t waitroom/booking  .
#
# (docker-compose.yml builds all three.) With no --target the last stage,
# waitroom, is built.
#
# The final images are gcr.io/distroless/static-debian12:nonroot: no shell, no
# package manager, CA certificates and tzdata included, user nonroot
# (65532:65532). Binaries are built with CGO_ENABLED=0, so they need no libc.
#
# Health checks: distroless has no shell, curl or wget, so a shell-form
# HEALTHCHECK (CMD curl …) cannot work. Exec form needs only a binary, so
# each HTTP image carries deploy/healthcheck, a static Go probe (standard
# library only) that GETs a URL and exits 0 on 2xx. The image's HEALTHCHECK
# asks /healthz (liveness: the process serves), never /readyz, so that an
# orchestrator that replaces unhealthy containers (ECS, Swarm) does not kill
# every instance while Redis is briefly away; readiness (/readyz, Redis
# reachable, 503 while draining) is for the load balancer and for Compose's
# depends_on, which docker-compose.yml sets per service. The admitter serves
# no HTTP and has no health check; watch its logs and the rooms' tick metrics.
#
# Plain Dockerfile syntax (no BuildKit-only features such as cache mounts) so
# that both the legacy builder (docker-compose 1.29's default) and BuildKit
# build it.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Dependencies first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/ \
        ./cmd/waitroom ./cmd/admitter ./cmd/booking ./deploy/healthcheck

FROM gcr.io/distroless/static-debian12:nonroot AS admitter
COPY --from=build /out/admitter /usr/local/bin/admitter
USER 65532:65532
# No HTTP endpoint, so no health check (see the top of this file).
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/admitter"]

# What both HTTP images share: the probe, the user and the health check,
# which asks the URL each image's HEALTHCHECK_URL names.
FROM gcr.io/distroless/static-debian12:nonroot AS http
COPY --from=build /out/healthcheck /usr/local/bin/
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/healthcheck"]

FROM http AS booking
COPY --from=build /out/booking /usr/local/bin/
ENV BOOKING_ADDR=:8081 HEALTHCHECK_URL=http://127.0.0.1:8081/healthz
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/booking"]

FROM http AS waitroom
COPY --from=build /out/waitroom /usr/local/bin/
ENV WAITROOM_ADDR=:8080 HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/waitroom"]
