#!/usr/bin/env bash
# Install the Debian packages the tests and benchmarks run: skopeo (a real
# client), docker-registry (the reference registry) and wrk (load generator).
set -euo pipefail

needed=()
command -v skopeo >/dev/null || needed+=(skopeo)
[ -x /usr/bin/docker-registry ] || needed+=(docker-registry)
command -v wrk >/dev/null || needed+=(wrk)

if [ ${#needed[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${needed[*]}; install them with: sudo apt-get install -y ${needed[*]}" >&2
    exit 1
fi
echo "installing Debian packages: ${needed[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${needed[@]}" >/dev/null
