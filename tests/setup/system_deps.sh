#!/usr/bin/env bash
# Installs what the test suite drives for real: Chromium (dashboard in a browser, PDF charts),
# Prometheus (telemetry over its HTTP API), LibreOffice (opens the finance pack), Azurite
# (Azure Blob storage), a Java 17 runtime (local Spark for `--engine spark`). Idempotent:
# does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc-nogui)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)  # `--engine spark` tests

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "missing system packages: ${need[*]} — install them (apt-get install ${need[*]}) and rerun" >&2
    exit 1
  fi
  echo "installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

azurite=.cache/azurite/node_modules/.bin/azurite-blob
if [ ! -x "$azurite" ]; then
  echo "installing azurite (npm)"
  mkdir -p .cache/azurite
  npm install --silent --prefix .cache/azurite azurite@3 >/dev/null
fi

bash tests/setup/focus_validator.sh
