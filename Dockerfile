# Builds the candor binary with its runtime assets. Used by docker-compose.yml.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip unzip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make build

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/candor /usr/local/bin/candor
COPY --from=build /src/.assets /opt/candor/assets
COPY corpora /opt/candor/corpora
ENV CANDOR_ASSETS_DIR=/opt/candor/assets
WORKDIR /opt/candor
EXPOSE 8080
CMD ["sh", "-c", "for c in corpora/*/; do candor index --corpus \"$c\" --data-dir /data; done && candor serve --corpora corpora --data-dir /data --addr 0.0.0.0:8080"]
