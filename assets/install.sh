#!/bin/sh
# pigsty installer: download the static pigsty binary, verify its sha256, install it.
#
#   curl -fsSL https://github.com/pigsty-rs/pigsty/releases/latest/download/install.sh | sh
#   curl -fsSL .../install.sh | sh -s -- --help
#
# Environment:
#   PIGSTY_DOWNLOAD_URL  base URL holding `pigsty-<target>` and `pigsty-<target>.sha256`
#                        (default: https://github.com/pigsty-rs/pigsty/releases/latest/download)
#   PIGSTY_INSTALL_DIR   directory to install `pigsty` into (default: /usr/local/bin)
#   PIGSTY_ARCH          tests only: pretend `uname -m` printed this value
#
# POSIX sh (checked with dash and `shellcheck -s sh`). Everything is inside functions and `main`
# is called on the last line, so a truncated download runs nothing.

set -u

PIGSTY_DEFAULT_URL="https://github.com/pigsty-rs/pigsty/releases/latest/download"

usage() {
    cat <<'EOF'
pigsty installer: download pigsty, verify its sha256 checksum, install it

usage: install.sh [-y] [-h]

options:
  -y, --yes    accepted for compatibility; the installer never prompts
  -h, --help   print this help

environment:
  PIGSTY_DOWNLOAD_URL  base URL of the release assets
                       (default: https://github.com/pigsty-rs/pigsty/releases/latest/download)
  PIGSTY_INSTALL_DIR   where to install `pigsty` (default: /usr/local/bin)

supported: Linux on x86_64 (target x86_64-unknown-linux-musl, a static binary)
EOF
}

say() {
    printf 'pigsty-install: %s\n' "$1" >&2
}

# fail CODE MESSAGE [HINT]: print an error (and a hint) to stderr, exit with CODE.
fail() {
    printf 'pigsty-install: error: %s\n' "$2" >&2
    if [ -n "${3:-}" ]; then
        printf '  hint: %s\n' "$3" >&2
    fi
    exit "$1"
}

err() {
    fail 1 "$1"
}

# err_hint MESSAGE HINT
err_hint() {
    fail 1 "$1" "$2"
}

check_cmd() {
    command -v "$1" >/dev/null 2>&1
}

need_cmd() {
    if ! check_cmd "$1"; then
        err "need \`$1\` (command not found)"
    fi
}

# ensure CMD ARGS...: run a command that should never fail; abort if it does.
ensure() {
    if ! "$@"; then
        err "command failed: $*"
    fi
}

# Removes everything this script created that is not the final install.
cleanup() {
    if [ -n "${_staged:-}" ]; then
        rm -f "$_staged"
    fi
    if [ -n "${_tmpdir:-}" ]; then
        rm -rf "$_tmpdir"
    fi
}

# Prints the release target triple for this machine, or exits with an error.
detect_target() {
    _os=$(uname -s) || err "cannot run \`uname -s\`"
    _arch=${PIGSTY_ARCH:-}
    if [ -z "$_arch" ]; then
        _arch=$(uname -m) || err "cannot run \`uname -m\`"
    fi

    case "$_os" in
        Linux) ;;
        *)
            err_hint "unsupported operating system \`$_os\`: pigsty runs on Linux x86_64 only (x86_64-unknown-linux-musl)" \
                "run this installer on the Linux machine that should host PostgreSQL"
            ;;
    esac

    case "$_arch" in
        x86_64 | amd64) _target="x86_64-unknown-linux-musl" ;;
        *)
            err "unsupported architecture \`$_arch\`: pigsty is built for x86_64 Linux only (x86_64-unknown-linux-musl)"
            ;;
    esac
}

# downloader URL FILE: fetch URL into FILE with curl, or wget when curl is missing.
downloader() {
    case "$1" in
        https://*) _https_only=yes ;;
        *) _https_only=no ;;
    esac
    if check_cmd curl; then
        if [ "$_https_only" = yes ]; then
            curl --proto '=https' --tlsv1.2 -fsSL --retry 3 --connect-timeout 30 -o "$2" "$1"
        else
            curl -fsSL --retry 3 --connect-timeout 30 -o "$2" "$1"
        fi
    elif check_cmd wget; then
        if wget --version 2>/dev/null | grep -q 'GNU Wget'; then
            if [ "$_https_only" = yes ]; then
                wget -q --https-only --tries=3 --timeout=30 -O "$2" "$1"
            else
                wget -q --tries=3 --timeout=30 -O "$2" "$1"
            fi
        else
            # busybox wget (Alpine): only the basic flags
            wget -q -O "$2" "$1"
        fi
    else
        err "need \`curl\` or \`wget\` to download pigsty (neither was found)"
    fi
}

# fetch URL FILE: download, with an error naming the URL.
fetch() {
    say "downloading $1"
    if ! downloader "$1" "$2"; then
        rm -f "$2"
        err_hint "could not download \`$1\`" \
            "check this machine's network access, or set PIGSTY_DOWNLOAD_URL to a mirror holding pigsty-$_target and pigsty-$_target.sha256"
    fi
}

# sha256_of FILE: prints the lowercase hex sha256 of FILE.
sha256_of() {
    if check_cmd sha256sum; then
        _sum=$(sha256sum "$1") || err "\`sha256sum $1\` failed"
    elif check_cmd shasum; then
        _sum=$(shasum -a 256 "$1") || err "\`shasum -a 256 $1\` failed"
    else
        err "need \`sha256sum\` or \`shasum\` to verify the download (neither was found)"
    fi
    printf '%s\n' "${_sum%% *}"
}

# verify BINARY SUMFILE NAME: the sha256sum-format SUMFILE must name NAME and match BINARY.
verify() {
    _want=""
    _name=""
    IFS=' ' read -r _want _name _rest <"$2" || :
    _name=${_name#\*}
    case "$_want" in
        "" | *[!0-9a-fA-F]*) _want="" ;;
    esac
    if [ "${#_want}" -ne 64 ] || [ "$_name" != "$3" ]; then
        err "malformed checksum file \`$3.sha256\`: expected \`<sha256>  $3\`; nothing was installed"
    fi
    _want=$(printf '%s' "$_want" | tr 'A-F' 'a-f')
    _got=$(sha256_of "$1") || exit 1
    if [ "$_got" != "$_want" ]; then
        err_hint "checksum mismatch for \`$3\`: expected sha256 $_want, got $_got; nothing was installed" \
            "the download is corrupt or was tampered with; retry, and report it if it persists"
    fi
    say "checksum ok: sha256 $_got"
}

# prepare_dir DIR: DIR exists and this user can write to it.
prepare_dir() {
    if [ ! -d "$1" ]; then
        if ! mkdir -p "$1" 2>/dev/null; then
            err_hint "cannot create install directory \`$1\`" \
                "run as root (curl -fsSL <url>/install.sh | sudo sh) or set PIGSTY_INSTALL_DIR to a writable directory"
        fi
    fi
    if [ ! -w "$1" ]; then
        err_hint "install directory \`$1\` is not writable by this user" \
            "run as root (curl -fsSL <url>/install.sh | sudo sh) or set PIGSTY_INSTALL_DIR to a writable directory"
    fi
}

main() {
    for _arg in "$@"; do
        case "$_arg" in
            -h | --help)
                usage
                exit 0
                ;;
            -y | --yes) ;;
            *)
                fail 2 "unknown option \`$_arg\`" "see \`install.sh --help\`"
                ;;
        esac
    done

    need_cmd uname
    need_cmd mktemp
    need_cmd rm
    need_cmd cp
    need_cmd chmod
    need_cmd mv
    need_cmd mkdir
    need_cmd tr

    detect_target

    _base=${PIGSTY_DOWNLOAD_URL:-$PIGSTY_DEFAULT_URL}
    _base=${_base%/}
    _dir=${PIGSTY_INSTALL_DIR:-/usr/local/bin}
    _dir=${_dir%/}
    if [ -z "$_dir" ]; then
        _dir=/
    fi
    _asset="pigsty-$_target"

    # Fail on permissions before spending time on the download.
    prepare_dir "$_dir"

    _staged=""
    _tmpdir=""
    trap cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    _tmpdir=$(mktemp -d) || err "cannot create a temporary directory (\`mktemp -d\` failed)"

    fetch "$_base/$_asset" "$_tmpdir/$_asset"
    fetch "$_base/$_asset.sha256" "$_tmpdir/$_asset.sha256"
    verify "$_tmpdir/$_asset" "$_tmpdir/$_asset.sha256" "$_asset"

    # Stage next to the destination so the final mv is a same-filesystem rename: the old
    # binary (even a running one) is replaced in one step, never half-written.
    _dest="$_dir/pigsty"
    _staged="$_dir/.pigsty.install.$$"
    ensure cp "$_tmpdir/$_asset" "$_staged"
    ensure chmod 755 "$_staged"
    if ! _version=$("$_staged" --version </dev/null 2>&1); then
        err_hint "the downloaded pigsty does not run here (\`pigsty --version\` failed: $_version); nothing was installed" \
            "is \`$_dir\` on a noexec mount? set PIGSTY_INSTALL_DIR to another directory"
    fi
    ensure mv -f "$_staged" "$_dest"
    _staged=""

    if ! _version=$("$_dest" --version </dev/null 2>&1); then
        err "installed \`$_dest\` but \`$_dest --version\` failed: $_version"
    fi
    say "installed $_dest ($_version)"

    case ":${PATH:-}:" in
        *":$_dir:"*) _cmd="pigsty" ;;
        *)
            say "note: \`$_dir\` is not in PATH; run it as \`$_dest\`"
            _cmd="$_dest"
            ;;
    esac
    _sudo=""
    if check_cmd id && [ "$(id -u)" != 0 ]; then
        _sudo="sudo "
    fi
    printf '\nnext: build a singleton PostgreSQL platform on this machine (needs root):\n\n    %s\n\n' \
        "$_sudo$_cmd install" >&2
}

main "$@"
