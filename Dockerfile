# Specloop: one image for the web service and both kinds of worker.
#   docker build -t specloop .                              (web + workers; Chromium included)
#   docker build -t specloop-web --build-arg CHROMIUM=false .   (web and light workers only: smaller)
# Redis is not in the image: use the compose file's redis service or REDIS_URL (rediss:// works).
FROM python:3.11-slim

ARG CHROMIUM=true

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    DOTENV_PATH=/config/specloop.env \
    CHROMIUM_PATH=/usr/bin/chromium

# git: jobs clone and push spec branches. Chromium and fonts: QA runs and screenshots (heavy workers).
# bubblewrap: the sandbox for repository code (ALLOW_REPO_CODE); inside a container it also needs the
# security options docs/sandbox.md names, else QA says it cannot make a sandbox and runs nothing bare.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates bubblewrap \
 && if [ "$CHROMIUM" = "true" ]; then \
      apt-get install -y --no-install-recommends chromium fonts-liberation fonts-noto-color-emoji; \
    fi \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, from the lock file, so a code change does not reinstall them (this layer is cached
# until requirements.lock changes); then the code itself, without resolving anything again.
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY handlers ./handlers
COPY jobs ./jobs
RUN pip install --no-deps . && rm -rf build *.egg-info
# The manifest /setup registers from (Probot's app.yml), read from the working directory.
COPY app.yml ./

# Never run as root: the worker executes git and a browser on repository content.
RUN useradd --create-home --uid 10001 specloop \
 && mkdir -p /data /config \
 && chown specloop:specloop /data /config
USER specloop
VOLUME ["/data", "/config"]

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status != 200)"

CMD ["specloop", "serve", "--host", "0.0.0.0", "--port", "3000"]
