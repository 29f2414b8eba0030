#!/usr/bin/env bash
# Installs the FinOps Foundation's focus-validator (the referee of FOCUS conformance) into its
# own venv under .cache/focus-validator: it needs Python >= 3.12, the product runs on 3.11.
# The validator reads focus_validator/rules/currency_codes.csv (the ISO 4217 codes) relative to
# its working directory and would otherwise download it, so the list it ships is copied into
# .cache/focus-validator/work, the directory to run it from (tests/conformance does).
# Idempotent: does nothing when the pinned version is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=2.2.1
home=.cache/focus-validator
venv=$home/venv
codes=$home/work/focus_validator/rules/currency_codes.csv

if [ ! -x "$venv/bin/focus-validator" ] || [ ! -f "$home/.installed-$version" ]; then
  # A usable interpreter: python3.12+ on PATH (a pyenv shim that names a version it cannot run
  # fails the probe and is skipped), else one of pyenv's installed versions.
  works() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
  python=""
  for candidate in python3.14 python3.13 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && works "$candidate"; then
      python=$(command -v "$candidate")
      break
    fi
  done
  if [ -z "$python" ] && command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)"/versions/3.1[2-9]*/bin/python; do
      if [ -x "$candidate" ] && works "$candidate"; then
        python=$candidate
        break
      fi
    done
  fi
  if [ -z "$python" ]; then
    echo "focus-validator needs Python >= 3.12: none found (tried python3.12+ on PATH and" \
      "pyenv's versions). Install one (e.g. 'pyenv install 3.12' or your system's" \
      "python3.12 package) and rerun $0" >&2
    exit 1
  fi

  echo "installing focus-validator $version with $python"
  rm -rf "$venv" "$home"/.installed-*
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # pyarrow 26 needs NumPy 2, which focus-validator 2.2.1 excludes (numpy<2).
  "$venv/bin/python" -m pip install --quiet "focus-validator==$version" "pyarrow<26"
  touch "$home/.installed-$version"
fi

if [ ! -s "$codes" ]; then
  mkdir -p "$(dirname "$codes")"
  "$venv/bin/python" - "$codes" <<'PY'
import shutil
import sys
from importlib.resources import files

shipped = files("focus_validator").joinpath("rules", "currency_codes.csv")
if not shipped.is_file():
    sys.exit("focus-validator ships no rules/currency_codes.csv: write the ISO 4217 codes there")
shutil.copyfile(str(shipped), sys.argv[1])
PY
fi
