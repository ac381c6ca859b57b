#!/usr/bin/env bash
# Host packages the build and the lab need; installs only what is missing (idempotent).
set -euo pipefail
need=()
command -v debootstrap    >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v iptables       >/dev/null || need+=(iptables)
command -v curl           >/dev/null || need+=(curl)
command -v python3        >/dev/null || need+=(python3)
command -v ssh            >/dev/null || need+=(openssh-client)
command -v flock          >/dev/null || need+=(util-linux)
# the repo suite signs a small apt repository of its own (repo_upstream with a key)
command -v gpg            >/dev/null || need+=(gnupg)
command -v apt-ftparchive >/dev/null || need+=(apt-utils)
# the musl C compiler: `ring` (rcgen, the CA) compiles C for the static musl binary
command -v x86_64-linux-musl-gcc >/dev/null || need+=(musl-tools)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: missing host packages: ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "installing host packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# promtool, unpacked from Debian's prometheus package (no service installed): the
# unit tests that fire every alert rule (src/modules/infra/rules_test.yml) run with it
if ! command -v promtool >/dev/null && [[ $(id -u) -eq 0 ]]; then
  d=$(mktemp -d)
  if (cd "$d" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; } &&
    dpkg -x prometheus_*.deb x && install -m 0755 x/usr/bin/promtool /usr/local/bin/promtool); then
    echo "installed promtool $(promtool --version 2>&1 | head -n1 | awk '{print $3}') into /usr/local/bin" >&2
  else
    echo "warning: could not get promtool; the alert rule unit tests skip" >&2
  fi
  rm -rf "$d"
fi
