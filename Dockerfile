# syntax=docker/dockerfile:1

# Both stages must share one base: the venv's interpreter links point into it.
ARG PYTHON_IMAGE=python:3.11-slim

# The builder has compilers and pip caches; none of it reaches the final image.
FROM ${PYTHON_IMAGE} AS builder

# Compilers for any dependency that ships no wheel for this platform.
# DL3008: build-essential follows the base image's Debian release; a version
# pin would break on each base update and this stage is thrown away anyway.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

# No bytecode written at build time beyond what pip compiles; quiet pip.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

# A venv is one self-contained directory that the final stage copies whole.
RUN python -m venv /opt/venv

# Every later python and pip call uses the venv.
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv

# The build context is unpacked here; it never reaches the final image.
WORKDIR /src

# Only the project metadata first, so the dependency layer survives code edits.
COPY pyproject.toml ./

# Install the pinned runtime dependencies listed in pyproject, and nothing else.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt

# The readme is part of the package metadata that hatchling builds.
COPY README.md ./

# The wire contract package, one of the two import packages of the wheel.
COPY contracts/ contracts/

# The service package; edits here rebuild only the layers from this one on.
COPY service/ service/

# Build and install the project itself; its dependencies are already in place.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps .

# The runtime image: the interpreter and the venv, no compilers, no sources.
FROM ${PYTHON_IMAGE} AS runtime

# A fixed numeric user, so Kubernetes can check runAsNonRoot without a lookup.
RUN groupadd --system --gid 10001 licensing \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin licensing \
    && install --directory --owner 10001 --group 10001 --mode 0750 /var/lib/licensing

# Root owns the venv, so the service cannot modify its own code.
COPY --from=builder /opt/venv /opt/venv

# Venv on PATH; logs unbuffered; no bytecode writes on a read-only filesystem.
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# The one writable folder besides /tmp: the default SQLite file lands here.
WORKDIR /var/lib/licensing

# Drop root for everything the container runs.
USER 10001:10001

# The HTTP endpoints: /livez, /readyz, /metrics and /asyncapi.
EXPOSE 8080

# The console script; arguments pick the subcommand.
ENTRYPOINT ["licensing"]

# Run the worker unless told otherwise (e.g. `migrate`).
CMD ["worker"]
