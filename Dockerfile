# Build a static binary, then ship it alone on a distroless base as a
# non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hoist ./cmd/hoist

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hoist /usr/local/bin/hoist
USER nonroot:nonroot
WORKDIR /var/lib/hoist
ENV HOIST_STORE_DSN=/var/lib/hoist/hoist.db \
    HOIST_SERVER_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/hoist"]
CMD ["serve"]
