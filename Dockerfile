# The web tier image: web (gunicorn), scorer (Celery, queue `scoring`) and beat.
# The web tier never imports torch at module level, but the one pyproject pins it, so
# the small CPU wheel is installed first and pip then finds it satisfied.

FROM node:20-slim AS assets
WORKDIR /src/platform/podium/web
COPY platform/podium/web/package.json platform/podium/web/package-lock.json platform/podium/web/vendor.mjs ./
RUN npm ci --no-audit --no-fund --loglevel=error && npm run --silent vendor

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PODIUM_VAR_DIR=/var/lib/podium \
    PODIUM_MEDIA_ROOT=/var/lib/podium/media
WORKDIR /app
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md manage.py ./
COPY platform ./platform
COPY datasets ./datasets
COPY workers ./workers
COPY podium_client ./podium_client
COPY --from=assets /src/platform/podium/web/static/vendor ./platform/podium/web/static/vendor
RUN pip install . \
    && useradd --create-home --uid 1000 podium \
    && mkdir -p /var/lib/podium/media \
    && PODIUM_SECRET_KEY=build-only-not-secret-build-only-not-secret-build-only python manage.py collectstatic --noinput \
    && chown -R podium /var/lib/podium
USER podium
EXPOSE 8000
CMD ["gunicorn", "podium.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
