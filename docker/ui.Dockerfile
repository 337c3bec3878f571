# syntax=docker/dockerfile:1
# The web UI image: the single-page app (frontend/) built with the locked npm packages, served by an
# unprivileged nginx on 8080 that also proxies /api/ to the platform backend. Built from the
# repository root:
#   docker build -f docker/ui.Dockerfile -t kafka-ml/ui:0.1.0 .
# At run time: KAFKAML_API_UPSTREAM names the backend (default the platform's Service); nginx
# writes its rendered configuration to /etc/nginx/conf.d and its pid and temporary files to /tmp
# (both writable volumes in the Deployment: the root filesystem is read-only). No secret: the
# app is static and signs in through the API.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.28.0-alpine

# --- builder: the locked packages first (cached across source edits), then the build to dist/
FROM ${NODE_IMAGE} AS builder
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /build/frontend
COPY frontend/package.json frontend/package-lock.json ./
# The registry settings come as build secrets (.npmrc, its CA bundle): used by this step only, in
# no layer (docker/images.py passes this machine's; without them npm's defaults apply).
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc --mount=type=secret,id=ca-certificates.crt \
    npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- final: nginx (non-root, uid 101 of the nginx-unprivileged image), the template and the app
FROM ${NGINX_IMAGE}
ENV NGINX_ENVSUBST_FILTER=^KAFKAML_ \
    KAFKAML_API_UPSTREAM=http://kafka-ml-backend:8000
COPY docker/nginx/default.conf.template /etc/nginx/templates/default.conf.template
COPY --from=builder /build/frontend/dist /usr/share/nginx/html
USER 101:101
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
CMD ["nginx", "-g", "daemon off;"]
