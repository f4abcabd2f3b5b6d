# syntax=docker/dockerfile:1
# The controller image: `llmops controller`, from the npm package this repository packs (the
# same tarball test/image/ installs and runs), production dependencies only, as a non-root user.
#   docker build -t ghcr.io/llmops/llmops:0.1.0 .
# The trainer's image is trainer/Dockerfile (the chart's trainer.image).
ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Build: dev dependencies, tsc → dist/ (what the prepare script runs), then `npm pack`.
#    --ignore-scripts: the base image is Node 24, so the `node` dev dependency's download is not
#    needed, and dist/ is built explicitly with the image's node.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY crds ./crds
COPY controller ./controller
# The trainer's sources and venv script ship in the package (the files field) for `llmops up`.
COPY trainer/setup-venv.sh trainer/pyproject.toml trainer/README.md ./trainer/
COPY trainer/src/llmops_trainer/ ./trainer/src/llmops_trainer/
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && npm pack --ignore-scripts --pack-destination /pack

# 2. Install the tarball with production dependencies only.
FROM ${NODE_IMAGE} AS install
WORKDIR /opt/llmops
COPY --from=build /pack/ /pack/
RUN npm install --omit=dev --no-audit --no-fund --no-package-lock /pack/llmops-*.tgz \
 && npm cache clean --force

# 3. Runtime: Node 24, git and ssh for git sources, the installed package; nothing else.
FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="llmops" \
      org.opencontainers.image.description="llmops controller: GitOps for prompts, experiments, fine-tuning and model rollouts on Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/llmops/llmops" \
      org.opencontainers.image.url="https://github.com/llmops/llmops"
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=install /opt/llmops /opt/llmops
ENV NODE_ENV=production \
    HOME=/tmp \
    PATH=/opt/llmops/node_modules/.bin:${PATH}
# The node image's unprivileged user (uid 1000); the chart runs it with a read-only root
# filesystem and emptyDirs for /tmp and the git cache.
USER 1000:1000
WORKDIR /tmp
EXPOSE 8080 8081
ENTRYPOINT ["llmops", "controller"]
