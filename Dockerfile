# Loyalty gRPC service. Installs the package exactly like the README's run command
# (`pip install ./clients .`), then runs as the non-root user `loyalty`: the embedded
# PostgreSQL refuses to run as root, and its data lives in the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 loyalty \
 && useradd --system --uid 10001 --gid loyalty --home-dir /home/loyalty --create-home \
        --shell /usr/sbin/nologin loyalty \
 && mkdir -p /data \
 && chown loyalty:loyalty /data

WORKDIR /src
COPY . .
RUN pip install --no-cache-dir ./clients . \
 && rm -rf /src

ENV LOYALTY_GRPC_HOST=0.0.0.0 \
    LOYALTY_DATA_DIR=/data

WORKDIR /home/loyalty
# Numeric, so that Kubernetes runAsNonRoot can verify it: the `loyalty` user created above.
USER 10001:10001
VOLUME ["/data"]

# 50051: gRPC; 9464: Prometheus metrics.
EXPOSE 50051 9464

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["loyalty-service", "health", "--address", "127.0.0.1:50051"]

ENTRYPOINT ["loyalty-service"]
CMD ["serve"]
