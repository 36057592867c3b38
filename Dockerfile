# syntax=docker/dockerfile:1
#
# agenticore's daemon (`agenticore serve`) with git, gh, Node.js and Claude Code.
#
#   docker build -t agenticore .
#   docker run -d --init -p 127.0.0.1:8200:8200 -v agenticore-data:/data \
#     -e AGENTICORE_API_KEYS -e ANTHROPIC_API_KEY agenticore
#
# The image listens on 0.0.0.0:8200, and agenticore refuses a non-loopback bind without
# AGENTICORE_API_KEYS: without keys the container exits at once (exit code 2) saying so.
# Secrets (AGENTICORE_API_KEYS, ANTHROPIC_API_KEY, GITHUB_TOKEN, POSTGRES_URL) are runtime
# environment only: nothing here takes them as a build argument.
# Needs BuildKit (cache mounts, ADD --checksum).

ARG RUST_VERSION=1.95.0
ARG NODE_VERSION=24.19.0
ARG CLAUDE_CODE_VERSION=2.1.197

# ---- build: the release binary ---------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Dependencies first: this layer changes only with Cargo.toml / Cargo.lock.
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo fetch --locked
# Then the whole source tree (.dockerignore keeps target/, .git, .env and the like out), so
# whatever Cargo.toml names (src/, defaults/profiles/ via include_str!, later benches) is there.
COPY . .
# target/ lives in a cache mount (incremental across builds): copy the binary out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin agenticore \
 && install -m 0755 target/release/agenticore /usr/local/bin/agenticore

# ---- Node.js from the official image (built on the same Debian release) -----------------------
FROM node:${NODE_VERSION}-bookworm-slim AS node

# ---- runtime ------------------------------------------------------------------------------------
FROM debian:bookworm-slim
ARG CLAUDE_CODE_VERSION

# GitHub CLI apt repository key; SHA-256 as published in cli/cli docs/install_linux.md.
ADD --checksum=sha256:6084d5d7bd8e288441e0e94fc6275570895da18e6751f70f057485dc2d1a811b --chmod=644 \
    https://cli.github.com/packages/githubcli-archive-keyring.gpg \
    /etc/apt/keyrings/githubcli-archive-keyring.gpg

# ca-certificates first: apt needs it to reach the https gh repository.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates git; \
    echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/githubcli-archive-keyring.gpg] https://cli.github.com/packages stable main" \
      > /etc/apt/sources.list.d/github-cli.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends gh; \
    rm -rf /var/lib/apt/lists/*; \
    git --version; gh --version

# Node.js + npm, then Claude Code pinned. Its postinstall hardlinks the native binary of the
# optional dependency for this platform (@anthropic-ai/claude-code-linux-x64 on amd64) over
# bin/claude.exe, so scripts and optional dependencies must stay enabled.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN set -eux; \
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; \
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; \
    npm install -g --no-audit --no-fund "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"; \
    node --version; claude --version; \
    npm cache clean --force; \
    rm -rf /root/.npm /root/.claude /root/.claude.json /tmp/*

# Non-root user; /data holds agenticore's home (config.yml, jobs.db, logs) and the repo cache.
RUN set -eux; \
    groupadd --gid 10001 agenticore; \
    useradd --uid 10001 --gid 10001 --home-dir /home/agenticore --create-home \
      --shell /bin/bash agenticore; \
    mkdir -p /data/agenticore /data/repos; \
    chown -R 10001:10001 /data

COPY --from=build /usr/local/bin/agenticore /usr/local/bin/agenticore

ENV HOME=/home/agenticore \
    AGENTICORE_HOME=/data/agenticore \
    AGENTICORE_REPOS_ROOT=/data/repos \
    AGENTICORE_TRANSPORT=sse \
    AGENTICORE_HOST=0.0.0.0 \
    AGENTICORE_PORT=8200 \
    DISABLE_AUTOUPDATER=1

VOLUME ["/data"]
USER 10001:10001
WORKDIR /home/agenticore
EXPOSE 8200

# `agenticore status` GETs /health and exits non-zero when the daemon does not answer or its
# store is degraded. AGENTICORE_URL is required: without it, status falls back to the local
# store and succeeds with no daemon running.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD AGENTICORE_URL="http://127.0.0.1:${AGENTICORE_PORT:-8200}" agenticore status >/dev/null || exit 1

ENTRYPOINT ["agenticore"]
CMD ["serve"]
