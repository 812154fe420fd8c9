# wirebench image: bench-client and bench-server, plus the shard entrypoint the
# Kubernetes Indexed Job runs (deploy/kubernetes/job.yaml).
#   docker build -t wirebench:latest .
# Stage 1 builds both binaries; stage 2 is a slim runtime with only them (and sh, tar and
# sleep from the base, for the entrypoint, kubectl cp and the reports reader pod).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p bench-client -p bench-server \
    && install -D -m 0755 target/release/bench-client /out/bench-client \
    && install -D -m 0755 target/release/bench-server /out/bench-server

FROM debian:bookworm-slim
COPY --from=build /out/bench-client /out/bench-server /usr/local/bin/
COPY deploy/shard-entrypoint.sh /usr/local/bin/wirebench-shard
# Non-root (the manifests also say runAsNonRoot): a load generator needs no privilege.
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT []
CMD ["bench-client", "--help"]
