#!/usr/bin/env bash
# Demo: for now, show the built binaries answer. Replaced by the full local demo run.
set -euo pipefail
build=$1
"$build/src/coordinator/raythenad" --version
"$build/src/stub/raythena-stub" --version
