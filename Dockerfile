# syntax=docker/dockerfile:1
#
# understudy in a container: a release build in a Rust image, copied alone into a slim Debian
# image that runs it as a non-root user.
#
#   docker build -t understudy .
#   docker run --rm -p 4010:4010 -e UNDERSTUDY_ADMIN_TOKEN="$(openssl rand -hex 24)" understudy
#
# The server listens on 0.0.0.0 inside the container, beyond loopback: understudy then refuses
# to start without an admin token, so give one in the environment (UNDERSTUDY_ADMIN_TOKEN, from
# a secret; `--admin-token` on the command line would show in `ps` and `docker inspect`). The
# admin API (/__understudy/) then wants it as `Authorization: Bearer TOKEN` (or
# `X-Understudy-Admin-Token: TOKEN`), and answers only to loopback host names unless told more
# with `--allowed-host NAME`. Add your own specs and scenarios with a volume:
#
#   docker run ... -v "$PWD/specs:/etc/understudy/specs:ro" understudy \
#     serve --host 0.0.0.0 --port 4010 --specs /etc/understudy/specs
#
# Several replicas behind a load balancer: deploy/README.md.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches make a rebuild after a source change take minutes, not the
# whole dependency build; the binary is copied out of the cached target folder.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin understudy \
 && install -D -m 0755 target/release/understudy /out/understudy

FROM debian:bookworm-slim
# A fixed numeric user, so that Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 understudy \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin understudy
COPY --from=build /out/understudy /usr/local/bin/understudy
USER 10001:10001
EXPOSE 4010
# The image has no curl or wget (either would add several megabytes and their TLS libraries to
# a server that needs neither), and distroless has no shell at all, which is why the base is
# debian:bookworm-slim: bash is part of it, and its /dev/tcp sends the request. The check
# passes when the status line says 200. It assumes the default port 4010: change it here too if
# the command line moves the server. Kubernetes ignores HEALTHCHECK and uses the Deployment's
# probes (deploy/kubernetes/deployment.yaml).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/4010 && printf 'GET /__understudy/health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && test \"$code\" = 200"]
ENTRYPOINT ["understudy"]
CMD ["serve", "--host", "0.0.0.0", "--port", "4010"]
