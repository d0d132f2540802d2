# Motet's services image: motet scheduler / results / worker (and the SDK, for workers and the
# chart's `helm test`). Build: docker build -t ghcr.io/motet-dev/motet:0.1.0 .
#
# The build stage generates the protobuf code (scripts/genproto.py, as `make proto` does) and
# builds the wheel; generated code is never committed, so the image is the only place it ships.
# The runtime stage holds a virtualenv with the wheel installed and the canvas guide's example
# tasks (examples/, for `motet worker --app examples.guide.tasks`), runs as uid 10001 and needs
# no shell: the entrypoint is the motet console script itself.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN pip install "setuptools>=68" wheel "grpcio-tools>=1.85.1" "mypy-protobuf>=5.1"
COPY pyproject.toml README.md ./
COPY protos protos
COPY scripts scripts
COPY sdk/motet sdk/motet
COPY services services
RUN python scripts/genproto.py \
 && pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && python -m venv /opt/motet \
 && /opt/motet/bin/pip install /dist/motet-*.whl \
 && /opt/motet/bin/python -c "import motet.v1.canvas_pb2, motet_server.v1.records_pb2"

FROM python:3.11-slim
ENV PATH=/opt/motet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --gid 10001 motet && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin motet
COPY --from=build /opt/motet /opt/motet
WORKDIR /app
COPY examples examples
USER 10001:10001
# gRPC (scheduler, results), plaintext health, Prometheus metrics
EXPOSE 7410 7411 7420 7421 9410 9411
ENTRYPOINT ["motet"]
CMD ["--help"]
