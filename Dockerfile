# Static, cgo-free binary (the SQLite driver is pure Go) on distroless.
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
ENTRYPOINT ["/deploybot"]
CMD ["serve", "--config", "/etc/deploybot/deploybot.yaml"]
