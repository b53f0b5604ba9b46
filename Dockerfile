# digest in a container. The image runs `digest serve` by default; compose.yaml runs the
# scheduler from the same image beside it, with PostgreSQL.
#   docker build -t trending-papers-digest .
#   docker run --rm -p 8000:8000 -e DIGEST_SECRET=... -v "$PWD:/srv/digest/config:ro" trending-papers-digest
# Offline (every wheel already in ./wheelhouse, setuptools too):
#   docker build --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/src/wheelhouse .
ARG PYTHON_IMAGE=python:3.11-slim

# Stage 1: digest and everything it needs, installed into the venv the image will run. Every
# dependency has a binary wheel (psycopg's binary extra carries its own libpq): no compiler.
FROM ${PYTHON_IMAGE} AS build
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
WORKDIR /src
COPY . .
RUN python3 -m venv /opt/digest \
 && /opt/digest/bin/pip install --no-cache-dir --disable-pip-version-check ".[postgres]"

# Stage 2: that venv alone (no sources, no wheels, no build layers), run by a user who is
# not root. Both stages share the base image, so the venv's python3 link holds.
FROM ${PYTHON_IMAGE}
COPY --from=build /opt/digest /opt/digest
RUN useradd --system --user-group --uid 10001 --home-dir /srv/digest --shell /usr/sbin/nologin digest \
 && mkdir -p /srv/digest/data \
 && chown digest:digest /srv/digest/data
ENV PATH=/opt/digest/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Your digest.yaml (and templates/) go in config/, mounted read-only: commands find it as
# ./digest.yaml. What digest writes (state, outbox, archive) belongs in data/, or PostgreSQL:
# a volume mounted on data/ starts owned by the digest user, as the folder is in the image.
WORKDIR /srv/digest/config
USER digest
EXPOSE 8000
# slim images have no curl: Python asks the sign-up page, which needs the app and its templates.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/subscribe', timeout=4).status != 200)"]
CMD ["digest", "serve", "--host", "0.0.0.0", "--port", "8000"]
