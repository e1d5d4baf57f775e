# rtk-compressor-bot: python -m bot in a small image, as a non-root user, the store on /data.
#   docker build -t rtk-compressor-bot .
#   docker run -d --env-file .env -v rtk-data:/data rtk-compressor-bot
# Webhook mode: add -e WEBHOOK_URL=https://… -p 8080:8080 (TLS terminated in front of it).

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY bot ./bot
COPY locales ./locales
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/*.whl

FROM python:3.12-slim
# The uid the bot runs as. compose.yaml sets it to the local Bot API server's uid, so each
# can read the files the other writes on their shared volume.
ARG BOT_UID=10001
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite:////data/bot.db \
    PORT=8080
RUN useradd --system --uid "${BOT_UID}" --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin bot \
    && mkdir -p /data && chown bot:bot /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER bot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# Token, backend, database and temp directory, one line each; non-zero when one fails.
HEALTHCHECK --interval=5m --timeout=90s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bot", "check"]
CMD ["python", "-m", "bot"]
