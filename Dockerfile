# Production image: Python 3.11 slim, pinned and hash-checked dependencies, non-root.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements/base.txt requirements/base.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/base.txt

COPY . .
# Settings refuse to load without a secret when DEBUG is off; this throwaway one
# exists only for collectstatic in this layer and is not in the final environment.
# The compose stack's `static` service collects again, as app, into the volume nginx
# serves: a new volume starts as a copy of /app/staticfiles, owner included.
RUN DEBUG=false SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput \
    && useradd --uid 1000 --create-home app \
    && mkdir -p /app/media && chown app:app /app/media \
    && chown -R app:app /app/staticfiles

USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
# Daphne with WebSocket compression (marketplace/serve.py); the same arguments.
CMD ["python", "-m", "marketplace.serve", "-b", "0.0.0.0", "-p", "8000", "marketplace.asgi:application"]
