# deploybot: a static, cgo-free binary (the SQLite driver is pure Go) on
# distroless/static, which brings CA certificates and a non-root user and
# nothing else. The image is the binary plus about 2 MB.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /deploybot ./cmd/deploybot

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /deploybot /deploybot
USER nonroot:nonroot
EXPOSE 8080
# distroless has no shell or curl; the binary checks itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/deploybot", "health"]
ENTRYPOINT ["/deploybot"]
CMD ["serve", "--config", "/etc/deploybot/deploybot.yaml"]
