#!/usr/bin/env bash
# Debian packages PAGI needs beyond Python: bubblewrap (the tool sandbox), libseccomp2 (its syscall
# filter, loaded through pyseccomp), chromium (browser tests), uuid-runtime (`uuidgen`, which the
# docs' bus recipes use for a Nats-Msg-Id, and tests/clients runs them as written)
# and, when no Rust toolchain is present, cargo (Rust tools built by the build worker).
# Installs them when running as root; otherwise names what is missing and carries on.
set -euo pipefail
packages=(bubblewrap libseccomp2 chromium uuid-runtime)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# The build worker compiles Rust tools; any toolchain will do (rustup's, or Debian's cargo).
if ! command -v rustc >/dev/null && [ ! -x "$HOME/.cargo/bin/rustc" ] && [ ! -x /usr/local/cargo/bin/rustc ]; then
    missing+=(cargo)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "warning: missing Debian packages: ${missing[*]} (install them with: sudo apt-get install ${missing[*]})" >&2
fi
