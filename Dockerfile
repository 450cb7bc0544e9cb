FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# DejaVu Sans: the report charts' text in Latin and Cyrillic (Pillow's own font has no Cyrillic).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY faq.example.yaml config.example.toml ./
RUN pip install --no-cache-dir . && useradd --create-home otklik
USER otklik
WORKDIR /home/otklik
ENV OTKLIK__HTTP__HOST=0.0.0.0
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["otklik", "run"]
