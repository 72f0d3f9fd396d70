#!/usr/bin/env bash
# Run the test suite again on PostgreSQL when a server responds on
# 127.0.0.1:5432. Without one the pass is skipped with a message, unless
# SEAWALL_REQUIRE_POSTGRES=1 (as in CI), which turns the skip into a failure.
set -euo pipefail
pytest_bin=$1
shift

url=${SEAWALL_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}
export SEAWALL_TEST_POSTGRES_URL=$url

if ! "$(dirname "$pytest_bin")/python" -c "import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=5).close()" "$url" 2>/dev/null; then
    if [ "${SEAWALL_REQUIRE_POSTGRES:-0}" = "1" ]; then
        echo "PostgreSQL at $url does not respond, and this run requires it" >&2
        exit 1
    fi
    echo "SKIPPED the PostgreSQL pass: no server answers at $url"
    exit 0
fi
echo "running the test suite on PostgreSQL ($url)"
SEAWALL_TEST_DATABASE=postgresql "$pytest_bin" "$@"
