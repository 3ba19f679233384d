#!/usr/bin/env bash
# postinstall: rebuild the netlink addon from source with our patch applied
# (patches/netlink+0.3.0.patch: ENOBUFS on the event socket is reported and
# polling continues, instead of aborting the process). node-gyp-build loads
# build/Release before the package's prebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
npx patch-package
dir=node_modules/netlink
node_gyp=node_modules/.bin/node-gyp
nodedir=()
# Debian's nodejs ships its headers under /usr/include/node; elsewhere node-gyp finds them itself.
[ -f /usr/include/node/node_api.h ] && nodedir=(--nodedir=/usr)
(cd "$dir" && "../../$node_gyp" rebuild "${nodedir[@]}" >/dev/null)
test -f "$dir/build/Release/netlink_binding.node"
echo "netlink addon rebuilt with patches/netlink+0.3.0.patch"
