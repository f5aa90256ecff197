#!/usr/bin/env bash
# Builds deploy/Dockerfile with podman (daemonless, Debian's package; no Docker daemon, no Docker Hub) on local
# base images made from the Debian mirror the machine's apt already uses (docs/deploy.md §2 "Building without
# Docker Hub"). tests/deploy/test_image.py runs it; people can too:
#
#   scripts/image.sh [TAG [PODMAN-BUILD-OPTIONS...]]          # default TAG: localhost/atlas4d:dev
#
# 1. base: debootstrap a minimal Debian bookworm with python3 + venv into a root file system, imported and
#    upgraded from bookworm-updates and bookworm-security as localhost/atlas4d-base:bookworm-<key>;
# 2. node: that base + Debian's nodejs and npm, as localhost/atlas4d-node:bookworm-<key>;
# 3. `podman build` of deploy/Dockerfile with PYTHON_IMAGE and NODE_IMAGE pointing at them (the Dockerfile's
#    defaults stay the official python/node images).
# <key> hashes the inputs of the bases (suite, packages, mirrors, the machine's extra CA certificates), so they
# are made once per machine and remade when an input changes; the base root file system is kept as a tarball
# under ATLAS4D_IMAGE_CACHE (default: root's atlas4d data dir, /var/lib/atlas4d/image) and re-imported from
# there if the container store was wiped. To pick up later Debian updates, `podman rmi` the two base images:
# the next run upgrades the cached tarball again.
#
# The local bases trust the CA certificates the building machine trusts (/usr/local/share/ca-certificates):
# where egress goes through a TLS-inspecting proxy, pip and npm inside the build need that. Images you
# publish are built from the official bases (`docker build`, docs/deploy.md), which carry no such certificate.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${1:-localhost/atlas4d:dev}"
shift || true  # what follows the tag goes to `podman build` (e.g. --layers=false: keep no stage images)
SUITE=bookworm
BASE_PACKAGES="python3,python3-venv,python-is-python3,ca-certificates"
NODE_PACKAGES="nodejs npm"
if [ -z "${DEBIAN_MIRROR:-}" ]; then
  # the machine's own mirror (deb822 sources or a one-line sources.list), else Debian's CDN
  DEBIAN_MIRROR="$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true)"
  DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi
if [ -z "${DEBIAN_SECURITY_MIRROR:-}" ]; then
  DEBIAN_SECURITY_MIRROR="$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
    | grep -oE 'https?://[^ ]+/debian-security/?( |$)' | head -1 | tr -d ' ' || true)"
  DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
fi
# the atlas4d data dir of root (settings.default_data_dir), or ATLAS4D_DATA_DIR
CACHE="${ATLAS4D_IMAGE_CACHE:-${ATLAS4D_DATA_DIR:-/var/lib/atlas4d}/image}"
EXTRA_CAS="$(find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | sort || true)"
KEY="$({ printf '%s\n' "$SUITE" "$BASE_PACKAGES" "$NODE_PACKAGES" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" v2
  for ca in $EXTRA_CAS; do sha256sum "$ca" | cut -d' ' -f1; done; } | sha256sum | cut -c1-12)"
BASE="localhost/atlas4d-base:$SUITE-$KEY"
NODE="localhost/atlas4d-node:$SUITE-$KEY"
# the version a wheel built from this checkout gets (hatch-vcs reads it through setuptools-scm: PEP 440, e.g.
# 0.1.dev338+g85bfa84c1; a bare `git describe --always` commit id is not a version), else 0.1.0+g<commit>
if [ -z "${VERSION:-}" ]; then
  for py in .venv/bin/python python3; do
    VERSION="$("$py" -m setuptools_scm 2>/dev/null | tail -1 || true)"
    [ -n "$VERSION" ] && break
  done
  VERSION="${VERSION:-0.1.0+g$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
fi

if [ "$(id -u)" -ne 0 ]; then echo "image.sh: run as root or under sudo (debootstrap, rootful podman)" >&2; exit 1; fi
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || { echo "image.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
mkdir -p "$CACHE/empty"
# podman's settings for these builds and the test's containers: runc (crun 1.8 refuses a hybrid cgroup v1/v2
# host), and rlimits no higher than this process's own (its defaults, nofile and nproc up to 4M, fail where
# the caller may not raise them: "setrlimit RLIMIT_NOFILE: Operation not permitted")
NOFILE="$(ulimit -Hn)"; [ "$NOFILE" = unlimited ] && NOFILE=1048576
export CONTAINERS_CONF="$CACHE/containers.conf"
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' \
  "$NOFILE" "$NOFILE" >"$CONTAINERS_CONF.tmp" && mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"
exists() { podman image exists "$1"; }

# 1. the base: debootstrap (needs root: run as root or under `sudo`), packed into a tarball, imported
if ! exists "$BASE"; then
  TARBALL="$CACHE/base-$SUITE-$KEY.tar"
  if [ ! -f "$TARBALL" ]; then
    echo "image.sh: debootstrap $SUITE from $DEBIAN_MIRROR (once per machine)"
    ROOTFS="$(mktemp -d "$CACHE/rootfs.XXXXXX")" && chmod 755 "$ROOTFS"  # it becomes the image's /
    trap 'rm -rf "$ROOTFS"' EXIT
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$ROOTFS" "$DEBIAN_MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -30 "$CACHE/debootstrap.log" >&2; exit 1; }
    # the image's apt sources: the release, its updates and the security archive (upgraded below)
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' "$DEBIAN_MIRROR" "$SUITE" \
      "$DEBIAN_MIRROR" "$SUITE" "$DEBIAN_SECURITY_MIRROR" "$SUITE" >"$ROOTFS/etc/apt/sources.list"
    for ca in $EXTRA_CAS; do cp "$ca" "$ROOTFS/usr/local/share/ca-certificates/"; done
    if [ -n "$EXTRA_CAS" ]; then chroot "$ROOTFS" update-ca-certificates >/dev/null; fi
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log
    tar --numeric-owner -C "$ROOTFS" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$ROOTFS"
    trap - EXIT
  fi
  # imported, then brought up to date with Debian's security and point-release updates, squashed into one
  # layer (a layer on top would carry a second copy of every upgraded file), without the downloaded .debs
  RAW="localhost/atlas4d-debootstrap:$SUITE-$KEY"
  exists "$RAW" || podman import --change 'CMD ["/bin/bash"]' "$TARBALL" "$RAW" >/dev/null
  echo "image.sh: $BASE (apt-get upgrade from $SUITE-updates and $SUITE-security)"
  printf 'FROM %s\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*\n' \
    "$RAW" | podman build --quiet --squash-all --network host -t "$BASE" -f - "$CACHE/empty" >/dev/null
  podman rmi "$RAW" >/dev/null
fi

# 2. the npm stage's base: Debian's nodejs and npm on top
if ! exists "$NODE"; then
  echo "image.sh: $NODE (Debian's nodejs and npm)"
  printf 'FROM %s\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends %s >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*\n' \
    "$BASE" "$NODE_PACKAGES" | podman build --quiet --network host -t "$NODE" -f - "$CACHE/empty" >/dev/null
fi

# 3. the image itself
echo "image.sh: building $TAG (version $VERSION) from deploy/Dockerfile"
podman build --format docker --network host \
  --build-arg PYTHON_IMAGE="$BASE" --build-arg NODE_IMAGE="$NODE" --build-arg VERSION="$VERSION" \
  -f deploy/Dockerfile -t "$TAG" "$@" .
