# syntax=docker/dockerfile:1
# Multi-stage build: compile with the Rust toolchain, run on a small non-root image.
#   docker build -t oncall-bot .
#   docker run --rm -e SLACK_BOT_TOKEN=… -e SLACK_APP_TOKEN=… -e OPSGENIE_API_KEY=… \
#     -e OPSGENIE_SCHEDULE=SRE_schedule oncall-bot serve

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# A workspace member: cargo reads its manifest even when the build leaves it out.
COPY simulator ./simulator
COPY benches ./benches
COPY tests ./tests
# The production image leaves out the simulator (`demo`; run that with cargo).
# Cache mounts keep the registry and build artefacts between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features \
    && cp target/release/oncall-bot /oncall-bot

# glibc, CA certificates (Slack and OpsGenie over TLS), a non-root user; no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /oncall-bot /usr/local/bin/oncall-bot
USER nonroot:nonroot
EXPOSE 3000
ENV LISTEN_ADDR=0.0.0.0:3000 LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/oncall-bot"]
CMD ["serve"]
