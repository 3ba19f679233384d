#!/usr/bin/env bash
# apt-ensure.sh PKG...: install the Debian packages among PKG that are not
# installed yet (nothing when all are). Used by .ci/run and `npm run lab`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
