# xmppd container image: a static binary on distroless, run as non-root.
#
#   docker build -t xmppd --build-arg VERSION=0.1.0 .
#   docker run -d --name xmppd -p 5222:5222 -p 5223:5223 -p 5269:5269 -p 5443:5443 \
#     -v xmppd-data:/var/lib/xmppd -v "$PWD/xmppd.toml:/etc/xmppd/xmppd.toml:ro" xmppd
#   docker exec -i xmppd xmppd user add -config /etc/xmppd/xmppd.toml alice@example.org  # password on stdin
#   docker exec xmppd xmppd backup -config /etc/xmppd/xmppd.toml -o /var/lib/xmppd/backup.tar.gz
#
# Untested here (no container engine on the build machine); the binary and
# the configuration are the ones scripts/test-deb.sh checks.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0-dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/xmppd ./cmd/xmppd
# The volumes' mount points, owned by the image's user, so that a new
# named volume starts out writable by it.
RUN install -d -m 0700 -o 65532 -g 65532 /out/var/lib/xmppd \
 && install -d -m 0755 /out/etc/xmppd

# static-debian12: CA certificates (federation checks peers' certificates),
# tzdata, /etc/passwd with the nonroot user (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/xmppd /usr/bin/xmppd
COPY --from=build --chown=65532:65532 /out/var/lib/xmppd /var/lib/xmppd
COPY --from=build /out/etc/xmppd /etc/xmppd
COPY contrib/docker/xmppd.toml /etc/xmppd/xmppd.toml
USER 65532:65532
WORKDIR /var/lib/xmppd
VOLUME ["/var/lib/xmppd", "/etc/xmppd"]
# c2s STARTTLS, c2s direct TLS (XEP-0368), s2s, HTTPS (WebSocket, BOSH, uploads).
# Ports under 1024 need no capability inside the container: map them with -p.
EXPOSE 5222 5223 5269 5443
# xmppd status asks the admin listener (127.0.0.1:5290 inside the container);
# a configuration with [[listen]] blocks must keep one of type "admin" for it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["/usr/bin/xmppd", "status", "-config", "/etc/xmppd/xmppd.toml"]
# SIGTERM (docker stop) ends every session with <system-shutdown/>.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/xmppd"]
CMD ["serve", "-config", "/etc/xmppd/xmppd.toml"]
