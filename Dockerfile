# The iamstorm image the deploy/ manifests run (one shard per container).
#   docker build -t iamstorm:0.1.0 .
#   docker run --rm iamstorm:0.1.0 validate /opt/iamstorm/scenarios/quickstart.toml
# Builder and runtime share one Debian release, so the binary's glibc matches.

FROM rust:1.95-trixie AS builder
WORKDIR /src
# Manifest first: the dependency graph is locked; benches are declared targets.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin iamstorm

FROM debian:trixie-slim
# CA roots for HTTPS to AWS; nothing else is needed at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --create-home --home-dir /home/iamstorm iamstorm
COPY --from=builder /src/target/release/iamstorm /usr/local/bin/iamstorm
# The scenario library; mount or bake your own next to it.
COPY scenarios /opt/iamstorm/scenarios
USER 10001:10001
WORKDIR /home/iamstorm
ENTRYPOINT ["iamstorm"]
CMD ["--help"]
