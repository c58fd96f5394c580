# Build a static binary, then ship it alone on a distroless base as a
# non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hoist ./cmd/hoist \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hoist /usr/local/bin/hoist
# The SQLite database's directory, writable by Hoist's user.
COPY --from=build --chown=65532:65532 /out/data /var/lib/hoist
# Numeric, so that Kubernetes' runAsNonRoot can check it: 65532 is distroless'
# "nonroot".
USER 65532:65532
WORKDIR /var/lib/hoist
ENV HOIST_STORE_DSN=/var/lib/hoist/hoist.db \
    HOIST_SERVER_LISTEN=:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/hoist"]
CMD ["serve"]
