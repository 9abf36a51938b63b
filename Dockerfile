# syntax=docker/dockerfile:1
# Build: a static binary, no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/leadcheck ./cmd/leadcheck \
 && mkdir -p /out/data

# Run: distroless static, non-root, nothing but the binary and CA roots.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/leadcheck /leadcheck
# Bulk jobs live here; the final image has no shell to create it.
COPY --from=build --chown=nonroot:nonroot /out/data /data
VOLUME /data
USER nonroot:nonroot
ENV LEADCHECK_ADDR=:8080 LEADCHECK_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/leadcheck"]
CMD ["serve"]
