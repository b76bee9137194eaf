# Weir: a static binary on a small runtime image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/weir ./cmd/weir

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/weir /weir
COPY --from=build /src/examples/quickstart /etc/weir/quickstart
# Runs as root: it binds 80/443 and, on the edge node, attaches XDP.
ENTRYPOINT ["/weir"]
