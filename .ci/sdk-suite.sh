#!/usr/bin/env bash
# A generated SDK's own test suite against understudy: the `openai` 3.3.1 Python SDK's
# tests/api_resources (6,247 tests calling every endpoint and parsing every answer into the
# SDK's models; upstream runs them against a mock server) from the SDK's sdist on PyPI, against
# understudy serving OpenAI's published OpenAPI 3.1 document (target/fixtures/openai.yml, from
# .ci/fixtures.sh) with no annotations, under --strict.
#
# Pass mark: at least Prism's count on the same suite and document, measured on this machine
# type (tests/fixtures/real/README.md): Prism 5.14.2 passed 5,696 of 6,247. The failures both
# share come from the SDK being newer than the published document (paths and fields it lacks).
#
# usage: .ci/sdk-suite.sh BIN   (BIN: the understudy binary)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?understudy binary}
work=target/sdk-suite
mkdir -p "$work"
[ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
  'openai[aiohttp]==3.3.1' pytest==9.2.0 pytest-asyncio==1.5.0 pytest-xdist==3.8.0 \
  inline-snapshot==0.36.1 rich==15.0.0 trio==0.35.0
if [ ! -d "$work/openai-3.3.1/tests" ]; then
  "$work/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: openai==3.3.1 -d "$work"
  tar xzf "$work/openai-3.3.1.tar.gz" -C "$work"
fi
port=4041
"$bin" serve --port "$port" --strict target/fixtures/openai.yml > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break
  sleep 0.2
done
(cd "$work/openai-3.3.1" && TEST_API_BASE_URL="http://127.0.0.1:$port" \
  ../venv/bin/python -m pytest tests/api_resources -n 0 -q -p no:cacheprovider \
  --junitxml=../junit.xml > ../pytest.log 2>&1) || true
tail -3 "$work/pytest.log"
passed=$(python3 - "$work/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) + int(s.get("skipped", 0)) for s in suites)
print(tests - bad)
PY
)
echo "openai 3.3.1 suite against understudy --strict: $passed passed (Prism: 5696)"
if [ "$passed" -lt 5696 ]; then
  echo "below Prism's pass count on the same suite and document"
  exit 1
fi
