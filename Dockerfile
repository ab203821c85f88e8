# The web tier image: web (gunicorn), scorer (Celery, queue `scoring`) and beat.
# No torch: the web tier validates model configs (workers.spec, shape inference and the
# parameter count) in pure Python, so it installs the base dependencies, not the `worker` extra.
# The sources run from /app (PYTHONPATH), the repository's layout, so that settings.BASE_DIR
# is /app and the files read at run time (examples/, the editor's templates) are found there.

FROM node:20-slim AS assets
WORKDIR /src/platform/podium/web
COPY platform/podium/web/package.json platform/podium/web/package-lock.json platform/podium/web/vendor.mjs ./
RUN npm ci --no-audit --no-fund --loglevel=error && npm run --silent vendor

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PODIUM_VAR_DIR=/var/lib/podium \
    PODIUM_MEDIA_ROOT=/var/lib/podium/media \
    PYTHONPATH=/app/platform:/app
WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY common ./common
COPY platform ./platform
COPY datasets ./datasets
COPY workers ./workers
COPY podium_client ./podium_client
COPY examples ./examples
COPY --from=assets /src/platform/podium/web/static/vendor ./platform/podium/web/static/vendor
RUN pip install . \
    && useradd --create-home --uid 1000 podium \
    && mkdir -p /var/lib/podium/media \
    && PODIUM_SECRET_KEY=build-only-not-secret-build-only-not-secret-build-only python manage.py collectstatic --noinput \
    && chown -R podium /var/lib/podium
USER podium
EXPOSE 8000
CMD ["gunicorn", "--config", "python:podium.gunicorn_conf", "podium.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
