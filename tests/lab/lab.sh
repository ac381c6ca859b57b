#!/usr/bin/env bash
# lab.sh: real Debian nodes (systemd as PID 1) on this machine, for the lab suites:
# Debian 12 (bookworm) by default, Debian 13 (trixie) on request, per lab or per node.
#
# Every node is a systemd-nspawn container booted from an overlayfs over a cached
# debootstrap image of its release, on the host bridge pgbr0 (10.10.10.1/24).
#
#   node I  machine/hostname `labI`   address 10.10.10.(9+I)   host veth `vb-labI`
#
# Verbs (run as root; all idempotent):
#   up N [--distro D[,D...]]
#                     nodes 1..N running and answering SSH (builds the base images once);
#                     D (bookworm, trixie) for new nodes: one for all, or one per node in
#                     order (the last repeats); a node keeps its release until `down`
#   down              remove every node, its disk, the bridge and the host rules we added
#   status            table: node, address, pid, state, ssh
#   ssh I [CMD...]    ssh as root to node I (lab key, lab known_hosts); args as for ssh
#   push I SRC DEST   copy a file or directory into node I over ssh (creates parents)
#   exec I CMD...     run CMD in node I through nsenter (works when SSH is down)
#   ip I / pid I      node I's address / PID of its PID 1 (for `nsenter -t PID -a`)
#   kill I            hard crash: SIGKILL the node (its disk stays)
#   start I           boot node I's disk again, wait for SSH
#   reset I [--distro D]  kill, wipe the disk, boot a fresh node with new host keys
#                     (on release D from now on; default: the release it ran)
#   cut I / heal I    take node I's host-side veth down / up
#   isolate [I]       no internet for node I (all nodes without I); lab traffic still flows
#   unisolate [I]     undo isolate
#   base [D]          build the base image of release D only (normally done by `up`)
#
# Environment:
#   LAB_NO_NAT=1      `up` boots nodes without internet (no MASQUERADE, `isolate` for all)
#   LAB_WAIT=SECONDS  how long `up`/`start`/`reset` wait for SSH (default 120)
#   LAB_MIRROR=URI    Debian mirror for the base image (default: the host's apt source)
#   LAB_DISTRO=D[,D]  releases of new nodes when `up` has no --distro (default bookworm)
#   LAB_SSH_TIMEOUT=S ssh ConnectTimeout for `ssh`/`push` (default 5)
#
# Paths: image cache and lab key in /var/cache/pigsty-lab (kept by `down`), node state,
# logs and the lab known_hosts in /var/lib/pigsty-lab (removed by `down`).
set -euo pipefail

readonly CACHE=/var/cache/pigsty-lab
readonly STATE=/var/lib/pigsty-lab
readonly LOCK=/run/pigsty-lab.lock
readonly KEY=$CACHE/id_ed25519
readonly KNOWN_HOSTS=$STATE/known_hosts
readonly HOST_STATE=$STATE/host.state
readonly BRIDGE=pgbr0
readonly NET=10.10.10
readonly SUBNET=$NET.0/24
readonly GATEWAY=$NET.1
readonly MAX_NODES=64
readonly DISTROS="bookworm trixie" # Debian releases a node can run
SUITE=bookworm                      # the release build_base works on
NEW_DISTROS=${LAB_DISTRO:-bookworm} # releases of nodes created now (comma separated)
readonly INCLUDE=systemd,systemd-sysv,dbus,openssh-server,iproute2,python3,ca-certificates,apt,curl,sudo,procps,less,iputils-ping,netcat-openbsd,gnupg
# Bump when the image recipe below changes: the cache key covers it and INCLUDE.
readonly RECIPE=2
readonly TAG=pigsty-lab   # iptables comment on every rule this script adds
WAIT=${LAB_WAIT:-120}

die() { echo "lab: error: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }
usage() { # [exit code]
  awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0" >&2
  exit "${1:-2}"
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (nspawn, mounts, bridge, iptables)"; }

# Host packages: installed when missing (CI starts from a fresh Debian 12 as root).
ensure_host_tools() {
  local need=()
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v systemd-nspawn >/dev/null || need+=(systemd-container)
  command -v iptables >/dev/null || need+=(iptables)
  command -v ssh >/dev/null || need+=(openssh-client)
  command -v flock >/dev/null || need+=(util-linux)
  command -v ip >/dev/null || need+=(iproute2)
  command -v nsenter >/dev/null || need+=(util-linux)
  ((${#need[@]})) || return 0
  log "installing host packages: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

# One mutating run at a time. fd 9 is closed for every node we start, so a running
# node never holds the lock.
take_lock() {
  exec 9>"$LOCK"
  flock -w 900 9 || die "another lab.sh holds $LOCK for 15 minutes; hint: is a lab run stuck?"
}

node_ip() { echo "$NET.$((9 + $1))"; }
node_dir() { echo "$STATE/node$1"; }
check_index() {
  if ! [[ ${1:-} =~ ^[1-9][0-9]*$ ]] || (($1 > MAX_NODES)); then
    die "node index must be 1..$MAX_NODES, got \`${1:-}\`"
  fi
}
# Indexes of nodes that have state on disk, ascending.
existing_nodes() {
  local d
  for d in "$STATE"/node*; do
    [[ -d $d ]] && echo "${d##*/node}"
  done | sort -n
}

# ---------------------------------------------------------------- base image

host_mirrors() {
  # prints "<main mirror> <security mirror>" as the host's apt sources have them
  local main="" sec="" uri f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    while read -r uri; do
      if [[ $uri == *security* ]]; then sec=${sec:-$uri}; else main=${main:-$uri}; fi
    done < <(sed -n 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n' | sed '/^$/d')
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    while read -r uri; do
      if [[ $uri == *security* ]]; then sec=${sec:-$uri}; else main=${main:-$uri}; fi
    done < <(sed -n -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' "$f")
  done
  main=${LAB_MIRROR:-${main:-http://deb.debian.org/debian}}
  echo "${main%/} ${sec:-http://deb.debian.org/debian-security}"
}

# base_key/base_dir [RELEASE]: the cache key and directory of a release's base image
# (bookworm keeps the key it always had, so existing caches stay valid)
base_key() {
  local suite=${1:-$SUITE}
  printf '%s\n' "$RECIPE" "$suite" "$INCLUDE" | sha256sum | cut -c1-12
}
base_dir() { echo "$CACHE/base/$(base_key "${1:-$SUITE}")"; }
check_distro() { [[ " $DISTROS " == *" $1 "* ]] || die "unknown release \`$1\` (known: $DISTROS)"; }
# the release node I runs: recorded when it was created, else NEW_DISTROS' I-th entry
node_distro() {
  local i=$1 f list
  f=$(node_dir "$i")/distro
  if [[ -s $f ]]; then cat "$f"; return; fi
  IFS=, read -r -a list <<<"$NEW_DISTROS"
  if ((i <= ${#list[@]})); then echo "${list[i - 1]}"; else echo "${list[${#list[@]} - 1]}"; fi
}

# Unmount everything below $1 (deepest first), then remove it without crossing mounts.
remove_tree() {
  local dir=$1 m
  [[ -e $dir ]] || return 0
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done < <(findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r)
  if [[ -n $(findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1') ]]; then
    die "still mounted below \`$dir\`; refusing to delete it"
  fi
  rm -rf --one-file-system -- "$dir"
}

write_file() { # path mode content...
  local path=$1 mode=$2
  shift 2
  mkdir -p "$(dirname "$path")"
  printf '%s' "$*" >"$path.tmp.$$"
  chmod "$mode" "$path.tmp.$$"
  mv -f "$path.tmp.$$" "$path"
}

build_base() { # [RELEASE]
  local dir tmp main sec started
  SUITE=${1:-$SUITE}
  check_distro "$SUITE"
  dir=$(base_dir)
  mkdir -p "$CACHE/base"
  local stale
  for stale in "$CACHE"/base/.build-*; do
    [[ -e $stale ]] && { log "removing interrupted build $stale"; remove_tree "$stale"; }
  done
  [[ -d $dir ]] && return 0
  read -r main sec < <(host_mirrors)
  tmp=$(mktemp -d "$CACHE/base/.build-XXXXXX")
  started=$SECONDS
  log "building base image $SUITE from $main (a minute or two; cached in $dir)"
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp" "$main" \
    >"$tmp.log" 2>&1; then
    tail -n 20 "$tmp.log" >&2
    remove_tree "$tmp"
    die "debootstrap failed (log above, full log $tmp.log); hint: is $main reachable?"
  fi
  rm -f "$tmp.log"

  # apt sources from the host's mirror: RELEASE, RELEASE-updates, RELEASE-security
  rm -f "$tmp/etc/apt/sources.list"
  write_file "$tmp/etc/apt/sources.list.d/debian.sources" 644 "Types: deb
URIs: $main
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"
  # every node gets its own host keys and machine id
  rm -f "$tmp"/etc/ssh/ssh_host_*
  : >"$tmp/etc/machine-id"
  # sshd regenerates missing host keys itself, should a node ever lack them
  write_file "$tmp/etc/systemd/system/ssh.service.d/10-lab-hostkeys.conf" 644 "[Service]
ExecStartPre=/usr/bin/ssh-keygen -A
"
  write_file "$tmp/etc/ssh/sshd_config.d/10-lab.conf" 644 "PasswordAuthentication no
PermitRootLogin prohibit-password
"
  write_file "$tmp/etc/default/locale" 644 "LANG=C.UTF-8
"
  # debootstrap copies the build host's name and leaves no /etc/hosts
  write_file "$tmp/etc/hostname" 644 "localhost
"
  write_file "$tmp/etc/hosts" 644 "127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
"
  chroot "$tmp" systemctl enable systemd-networkd.service ssh.service >/dev/null 2>&1 ||
    die "could not enable systemd-networkd and ssh in the base image"
  # background apt runs would take the dpkg lock in the middle of a test
  chroot "$tmp" systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
  chroot "$tmp" apt-get clean >/dev/null 2>&1 || true
  printf '%s\n' "recipe=$RECIPE" "suite=$SUITE" "include=$INCLUDE" "mirror=$main" \
    "built=$(date -u +%FT%TZ)" >"$tmp/etc/pigsty-lab-base"
  sync -f "$tmp" 2>/dev/null || sync
  mv -T "$tmp" "$dir"
  log "base image ready in $((SECONDS - started)) s ($(du -sh "$dir" | cut -f1))"
  prune_bases
}

# Remove base images of older recipes that no node uses any more.
prune_bases() {
  local b cur=" " used d
  for d in $DISTROS; do cur+="$(base_dir "$d") "; done
  for b in "$CACHE"/base/*; do
    [[ -d $b && $cur != *" $b "* ]] || continue
    used=0
    grep -qsxF "$b" "$STATE"/node*/lower && used=1
    ((used)) || { log "removing old base image $b"; remove_tree "$b"; }
  done
}

ensure_key() {
  [[ -f $KEY && -f $KEY.pub ]] && return 0
  mkdir -p "$CACHE"
  chmod 700 "$CACHE"
  rm -f "$KEY" "$KEY.pub"
  ssh-keygen -q -t ed25519 -N '' -C pigsty-lab -f "$KEY"
}

# ---------------------------------------------------------------- host network

state_get() { sed -n "s/^$1=//p" "$HOST_STATE" 2>/dev/null | tail -n1; }
state_set() {
  mkdir -p "$STATE"
  { grep -sv "^$1=" "$HOST_STATE" || true; echo "$1=$2"; } >"$HOST_STATE.tmp"
  mv -f "$HOST_STATE.tmp" "$HOST_STATE"
}

ipt_ensure() { # table chain position rule... ; adds the rule (tagged) unless present
  local table=$1 chain=$2 pos=$3
  shift 3
  iptables -w -t "$table" -C "$chain" "$@" -m comment --comment "$TAG" 2>/dev/null && return 0
  if [[ $pos == first ]]; then
    iptables -w -t "$table" -I "$chain" 1 "$@" -m comment --comment "$TAG"
  else
    iptables -w -t "$table" -A "$chain" "$@" -m comment --comment "$TAG"
  fi
}
ipt_delete() { # table chain rule... ; removes the tagged rule if present
  local table=$1 chain=$2
  shift 2
  while iptables -w -t "$table" -C "$chain" "$@" -m comment --comment "$TAG" 2>/dev/null; do
    iptables -w -t "$table" -D "$chain" "$@" -m comment --comment "$TAG"
  done
}
ipt_delete_all_tagged() {
  local t line
  for t in filter nat; do
    while read -r line; do
      [[ -n $line ]] || continue
      # `-A CHAIN args` -> `-D CHAIN args`; the args come from iptables itself
      eval "iptables -w -t $t -D ${line#-A }" || log "warning: could not delete $t rule: $line"
    done < <(iptables -w -t "$t" -S | grep -F -- "--comment $TAG" || true)
  done
}

host_net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  [[ $(ip -4 -o addr show dev "$BRIDGE") == *" $GATEWAY/24 "* ]] || ip addr add "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up

  # a FORWARD policy of DROP (e.g. a Docker host) would silently eat node traffic;
  # isolate rules are inserted later, at the top, so they stay ahead of these
  if [[ $(iptables -w -S FORWARD) != *"-P FORWARD ACCEPT"* ]]; then
    ipt_ensure filter FORWARD first -o "$BRIDGE" -j ACCEPT
    ipt_ensure filter FORWARD first -i "$BRIDGE" -j ACCEPT
  fi
  # forwarding on even without NAT: an isolated node's packets then meet the REJECT rule
  # and fail at once ("network unreachable") instead of timing out
  if [[ $(sysctl -n net.ipv4.ip_forward) != 1 ]]; then
    [[ -n $(state_get ip_forward_was) ]] || state_set ip_forward_was 0
    sysctl -qw net.ipv4.ip_forward=1
  fi
  # every node's systemd, journald, logind, ... take inotify instances from root's
  # budget (default 128: about 20 nodes; past it PID 1 exits with "Too many open files")
  local was
  was=$(sysctl -n fs.inotify.max_user_instances)
  if ((was < 8192)); then
    [[ -n $(state_get inotify_instances_was) ]] || state_set inotify_instances_was "$was"
    sysctl -qw fs.inotify.max_user_instances=8192
  fi
  if [[ ${LAB_NO_NAT:-0} == 1 ]]; then
    isolate_rule add all
  else
    # an identical rule that is not ours (no tag) already does the job
    iptables -w -t nat -C POSTROUTING -s "$SUBNET" ! -o "$BRIDGE" -j MASQUERADE 2>/dev/null ||
      ipt_ensure nat POSTROUTING append -s "$SUBNET" ! -o "$BRIDGE" -j MASQUERADE
  fi
}

# isolate_rule add|del all|I: refuse forwarding out of the lab for a node (or the subnet).
isolate_rule() {
  local op=$1 who=$2 src
  if [[ $who == all ]]; then src=$SUBNET; else src=$(node_ip "$who")/32; fi
  local rule=(-s "$src" -i "$BRIDGE" ! -o "$BRIDGE" -j REJECT --reject-with icmp-net-unreachable)
  if [[ $op == add ]]; then ipt_ensure filter FORWARD first "${rule[@]}"; else ipt_delete filter FORWARD "${rule[@]}"; fi
}

host_net_down() {
  ipt_delete_all_tagged
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
  if [[ $(state_get ip_forward_was) == 0 ]]; then
    sysctl -qw net.ipv4.ip_forward=0
  fi
  local was
  was=$(state_get inotify_instances_was || true)
  [[ -z $was ]] || sysctl -qw fs.inotify.max_user_instances="$was"
  return 0
}

# ---------------------------------------------------------------- nodes

# PID of node I's systemd-nspawn, if it runs; verified against its command line so a
# recycled PID is never mistaken for ours.
nspawn_pid() {
  local f pid
  f=$(node_dir "$1")/nspawn.pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_alive "$pid" || return 1
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *systemd-nspawn*" --machine=lab$1 "* ]] || return 1
  echo "$pid"
}
proc_alive() { # running and not a zombie
  local s
  s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $s && $s != Z && $s != X ]]
}
# PID 1 of node I's container (the child of its systemd-nspawn).
init_pid() {
  local np c
  np=$(nspawn_pid "$1") || return 1
  # shellcheck disable=SC2013 # the file is a list of PIDs
  for c in $(cat /proc/"$np"/task/*/children 2>/dev/null); do
    proc_alive "$c" && { echo "$c"; return 0; }
  done
  return 1
}
is_running() { nspawn_pid "$1" >/dev/null; }

ssh_opts() {
  SSH_OPTS=(-F /dev/null -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes
    -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
    -o StrictHostKeyChecking=yes -o ConnectTimeout="${LAB_SSH_TIMEOUT:-5}" -o LogLevel=ERROR
    -o ServerAliveInterval=5 -o ServerAliveCountMax=3)
}
ssh_ok() { # node I answers ssh true
  ssh_opts
  timeout 10 ssh -n "${SSH_OPTS[@]}" -o ConnectTimeout=2 "root@$(node_ip "$1")" true >/dev/null 2>&1
}
# node I answers ssh three times in a row, half a second apart: one lucky probe while
# sshd is still being (re)started by systemd at boot is not an sshd that stays up
ssh_stable() { ssh_ok "$1" && sleep 0.5 && ssh_ok "$1" && sleep 0.5 && ssh_ok "$1"; }

# ssh ARGS... to node address IP, retried (4 tries, 1 s apart) when the node reset or
# refused the connection before any command ran (an sshd restarting right after boot:
# `kex_exchange_identification: read: Connection reset by peer`). stderr is shown after.
ssh_retry() { # ip ssh-args...
  local ip=$1 err rc n
  shift
  err=$(mktemp "${TMPDIR:-/tmp}/lab-ssh.XXXXXX")
  for n in 1 2 3 4; do
    rc=0
    ssh "$@" 2>"$err" || rc=$?
    if ((rc == 255 && n < 4)) && grep -qE "kex_exchange_identification|(reset by|connect to host) ${ip//./\\.} port 22" "$err"; then
      sleep 1
      continue
    fi
    break
  done
  cat "$err" >&2
  rm -f "$err"
  return "$rc"
}

# known_hosts line(s) for node I from the public host keys on its disk
node_known_hosts() {
  local i=$1 root k
  root=$(node_dir "$i")/root
  for k in "$root"/etc/ssh/ssh_host_*_key.pub; do
    [[ -f $k ]] && echo "$(node_ip "$i"),lab$i $(cut -d' ' -f1,2 "$k")"
  done
}

# write_if_changed PATH MODE CONTENT: leaves the file (and its mtime) alone when equal.
write_if_changed() {
  [[ -f $1 && $(cat "$1") == "$3" ]] && return 0
  write_file "$1" "$2" "$3"$'\n'
}

# Host-side known_hosts and, inside every mounted node, the lab's block in /etc/hosts
# (the rest of the file is the node's own) and /etc/ssh/ssh_known_hosts, covering every
# node that exists. Files that would not change are not touched.
refresh_lab_files() {
  local i nodes kh="" block root cur
  nodes=$(existing_nodes)
  block="# BEGIN pigsty-lab (kept by tests/lab/lab.sh)
$GATEWAY	lab-host"
  for i in $nodes; do
    mountpoint -q "$(node_dir "$i")/root" || continue
    kh+=$(node_known_hosts "$i")$'\n'
    block+=$'\n'"$(node_ip "$i")	lab$i"
  done
  block+=$'\n'"# END pigsty-lab"
  kh=${kh%$'\n'}
  write_if_changed "$KNOWN_HOSTS" 644 "$kh"
  for i in $nodes; do
    root=$(node_dir "$i")/root
    mountpoint -q "$root" || continue
    cur=$(awk '/^# BEGIN pigsty-lab/ {skip = 1} !skip {print} /^# END pigsty-lab/ {skip = 0}' \
      "$root/etc/hosts" 2>/dev/null || true)
    write_if_changed "$root/etc/hosts" 644 "${cur:+$cur$'\n'}$block"
    write_if_changed "$root/etc/ssh/ssh_known_hosts" 644 "$kh"
  done
}

mount_node() {
  local i=$1 dir lower
  dir=$(node_dir "$i")
  mkdir -p "$dir"/{upper,work,root}
  [[ -s $dir/distro ]] || node_distro "$i" >"$dir/distro"
  [[ -f $dir/lower ]] || base_dir "$(<"$dir/distro")" >"$dir/lower"
  lower=$(<"$dir/lower")
  [[ -d $lower ]] || die "node lab$i's base image \`$lower\` is gone; hint: lab.sh reset $i"
  mountpoint -q "$dir/root" ||
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
}

# A new node's identity, written through the overlay (so into its upper dir), once:
# later boots keep whatever the node (or pigsty) changed, as a real machine would.
configure_node() {
  local i=$1 root t
  [[ -f $(node_dir "$i")/configured ]] && return 0
  root=$(node_dir "$i")/root
  write_file "$root/etc/hostname" 644 "lab$i
"
  [[ -s $root/etc/machine-id ]] ||
    write_file "$root/etc/machine-id" 444 "$(tr -d '-' </proc/sys/kernel/random/uuid)
"
  for t in ed25519 ecdsa rsa; do
    [[ -f $root/etc/ssh/ssh_host_${t}_key ]] && continue
    rm -f "$root/etc/ssh/ssh_host_${t}_key.pub"
    ssh-keygen -q -t "$t" -N '' -C "root@lab$i" -f "$root/etc/ssh/ssh_host_${t}_key"
  done
  write_file "$root/etc/systemd/network/10-host0.network" 644 "[Match]
Name=host0

[Network]
Address=$(node_ip "$i")/24
Gateway=$GATEWAY
LinkLocalAddressing=no
IPv6AcceptRA=no
"
  mkdir -p "$root/root/.ssh"
  chmod 700 "$root/root/.ssh"
  write_file "$root/root/.ssh/authorized_keys" 600 "$(cat "$KEY.pub")
"
  write_file "$root/root/.ssh/id_ed25519" 600 "$(cat "$KEY")
"
  write_file "$root/root/.ssh/id_ed25519.pub" 644 "$(cat "$KEY.pub")
"
  write_file "$root/root/.ssh/config" 600 "# lab nodes: host keys come from /etc/ssh/ssh_known_hosts (kept by lab.sh)
Host 10.10.10.* lab*
    User root
    IdentityFile /root/.ssh/id_ed25519
    StrictHostKeyChecking accept-new
"
  : >"$(node_dir "$i")/configured"
}

# Each node gets its own cgroup, /pigsty-lab/labI, in the unified hierarchy and in the
# legacy name=systemd one when the host has it. Without it, nspawn --keep-unit puts every
# container into the same `<our cgroup>/payload`, and the nodes' systemds then manage one
# shared cgroup tree (a service stop in one node waits on processes of another).
cgroup_roots() {
  findmnt -rn -t cgroup2 -o TARGET | head -n1
  findmnt -rn -t cgroup -o TARGET,OPTIONS | awk '$2 ~ /(^|,)name=systemd(,|$)/ {print $1; exit}'
}
node_cgroups() { local r; for r in $(cgroup_roots); do echo "$r/pigsty-lab/lab$1"; done; }
# Processes still in node I's cgroups (any depth).
cgroup_procs() {
  local d
  for d in $(node_cgroups "$1"); do
    [[ -d $d ]] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
  return 0
}
remove_cgroups() { # node I's (empty) cgroups, then /pigsty-lab when nothing is left in it
  local d r deadline=$((SECONDS + 10))
  for d in $(node_cgroups "$1"); do
    while [[ -d $d ]]; do
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d $d ]] || break
      ((SECONDS < deadline)) || { log "warning: cannot remove cgroup $d"; break; }
      sleep 0.2
    done
  done
  for r in $(cgroup_roots); do rmdir "$r/pigsty-lab" 2>/dev/null || true; done
}

# Start node I's container in the background (disk mounted and configured already).
launch_node() {
  local i=$1 dir pid
  dir=$(node_dir "$i")
  # a crashed node may leave its veth behind until the kernel drops its namespace
  if ip link show "vb-lab$i" >/dev/null 2>&1; then ip link del "vb-lab$i" 2>/dev/null || true; fi
  # Nodes run databases and their tooling: every capability but CAP_SYS_TIME (the clock
  # is the host's; chrony in a node then skips itself by its ConditionCapability), and
  # no syscall filter (SYSTEMD_SECCOMP=0). /proc/sys stays read-only except net.*.
  (
    exec 9>&-
    cd /
    for cg in $(node_cgroups "$i"); do
      mkdir -p "$cg"
      echo "$BASHPID" >"$cg/cgroup.procs"
    done
    export SYSTEMD_SECCOMP=0
    exec setsid systemd-nspawn --quiet --boot --register=no --keep-unit \
      --machine="lab$i" --directory="$dir/root" --network-bridge="$BRIDGE" \
      --capability=all --drop-capability=CAP_SYS_TIME --resolv-conf=copy-host --link-journal=no \
      --console=read-only </dev/null >>"$dir/console.log" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$dir/nspawn.pid"
  disown "$pid" 2>/dev/null || true
  # the subshell becomes systemd-nspawn by exec; until then nspawn_pid does not see it
  local deadline=$((SECONDS + 10))
  until nspawn_pid "$i" >/dev/null; do
    proc_alive "$pid" || die "node lab$i did not start; see $dir/console.log"
    ((SECONDS < deadline)) || die "node lab$i: process $pid did not become systemd-nspawn"
    sleep 0.05
  done
}

wait_ssh() { # wait until every given node answers SSH (probed in parallel); dies naming the rest
  local deadline=$((SECONDS + WAIT)) pending=("$@") left i j probes=()
  while ((${#pending[@]})); do
    probes=()
    for i in "${pending[@]}"; do
      ssh_stable "$i" &
      probes+=($!)
    done
    left=()
    for ((j = 0; j < ${#pending[@]}; j++)); do
      i=${pending[j]}
      if wait "${probes[j]}"; then
        log "lab$i ($(node_ip "$i")) answers ssh (3 probes in a row) after $((SECONDS - T0)) s"
      else
        is_running "$i" || die "node lab$i stopped while booting; see $(node_dir "$i")/console.log"
        left+=("$i")
      fi
    done
    pending=("${left[@]+"${left[@]}"}")
    ((${#pending[@]})) || break
    ((SECONDS < deadline)) || die "no ssh from node(s) ${pending[*]} after $WAIT s; see $STATE/node<I>/console.log"
    sleep 0.3
  done
}

# Hard stop: SIGKILL nspawn and the container's PID 1 (which takes every process in
# the container's PID namespace with it), then wait until the node's cgroups are empty.
kill_node() {
  local i=$1 np ip1 pids=() deadline d p
  if np=$(nspawn_pid "$i"); then
    ip1=$(init_pid "$i" || true)
    pids=("$np")
    [[ -n $ip1 ]] && pids+=("$ip1")
    kill -9 "${pids[@]}" 2>/dev/null || true
  fi
  # anything else left in the node's cgroup goes too (cgroup.kill: Linux 5.14+)
  for d in $(node_cgroups "$i"); do
    if [[ -f $d/cgroup.kill ]]; then echo 1 >"$d/cgroup.kill" 2>/dev/null || true; fi
  done
  # a container's PID 1 goes only once every process of its namespace has: one stuck
  # in the kernel (D state: an fsync on a loaded disk) can take a while
  deadline=$((SECONDS + 120))
  for p in "${pids[@]+"${pids[@]}"}"; do
    while proc_alive "$p"; do
      ((SECONDS < deadline)) || die "lab$i: process $p survived SIGKILL for 120 s (state $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null))"
      sleep 0.1
    done
  done
  while [[ -n $(cgroup_procs "$i") ]]; do
    ((SECONDS < deadline)) || die "lab$i: processes $(cgroup_procs "$i" | tr '\n' ' ')left in its cgroup after SIGKILL"
    sleep 0.1
  done
  rm -f "$(node_dir "$i")/nspawn.pid"
  remove_cgroups "$i"
  # the veth goes with the container's network namespace; do not wait forever for it
  deadline=$((SECONDS + 5))
  while ip link show "vb-lab$i" >/dev/null 2>&1 && ((SECONDS < deadline)); do sleep 0.1; done
  ip link del "vb-lab$i" 2>/dev/null || true
}

umount_node() {
  local root
  root=$(node_dir "$1")/root
  if mountpoint -q "$root"; then
    umount "$root" 2>/dev/null || umount -l "$root"
  fi
}

boot_nodes() { # boot the given (stopped or running) nodes in parallel and wait for SSH
  local i ids=("$@") pids=() failed=()
  for i in "$@"; do mount_node "$i"; done
  # host keys (RSA takes seconds) and boot overlap across nodes
  for i in "$@"; do
    (configure_node "$i" && { is_running "$i" || launch_node "$i"; }) &
    pids+=($!)
  done
  for ((i = 0; i < ${#pids[@]}; i++)); do
    wait "${pids[i]}" || failed+=("${ids[i]}")
  done
  ((${#failed[@]} == 0)) || die "could not boot node(s) ${failed[*]}"
  refresh_lab_files
  wait_ssh "$@"
}

# ---------------------------------------------------------------- verbs

cmd_up() {
  local n=${1:-}
  if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n > MAX_NODES)); then die "usage: lab.sh up N [--distro D[,D...]] (N: 1..$MAX_NODES)"; fi
  shift
  case "${1:-}" in
    --distro) [[ -n ${2:-} ]] || die "usage: lab.sh up N --distro D[,D...]"; NEW_DISTROS=$2 ;;
    --distro=*) NEW_DISTROS=${1#--distro=} ;;
    "") ;;
    *) die "usage: lab.sh up N [--distro D[,D...]]" ;;
  esac
  need_root
  ensure_host_tools
  take_lock
  T0=$SECONDS
  ensure_key
  local d needed="" i
  for ((i = 1; i <= n; i++)); do
    d=$(node_distro "$i")
    check_distro "$d"
    [[ " $needed " == *" $d "* ]] || needed+=" $d"
  done
  for d in $needed; do build_base "$d"; done
  mkdir -p "$STATE"
  host_net_up
  local ids=() i
  for ((i = 1; i <= n; i++)); do ids+=("$i"); done
  T0=$SECONDS
  boot_nodes "${ids[@]}"
  local extra
  extra=$(existing_nodes | awk -v n="$n" '$1 > n' | tr '\n' ' ')
  [[ -z $extra ]] || log "note: node(s) $extra also exist (lab.sh down removes them)"
  log "up: $n node(s) answer ssh in $((SECONDS - T0)) s"
}

cmd_down() {
  need_root
  take_lock
  local i
  for i in $(existing_nodes); do
    kill_node "$i"
  done
  for i in $(existing_nodes); do
    umount_node "$i"
    remove_tree "$(node_dir "$i")"
  done
  host_net_down
  rm -f "$KNOWN_HOSTS" "$HOST_STATE"
  prune_bases
  rmdir "$STATE" 2>/dev/null || true
  log "down: no nodes, no $BRIDGE, no lab iptables rules (base image kept in $CACHE)"
}

need_node() { # node I exists
  check_index "$1"
  [[ -d $(node_dir "$1") ]] || die "node lab$1 does not exist; hint: lab.sh up $1"
}
need_running() {
  need_node "$1"
  is_running "$1" || die "node lab$1 is not running; hint: lab.sh start $1"
}

cmd_ssh() {
  local i=${1:-}
  need_node "$i"
  shift
  ssh_opts
  if (($# == 0)); then
    [[ -t 0 ]] && exec ssh -t "${SSH_OPTS[@]}" "root@$(node_ip "$i")"
    exec ssh "${SSH_OPTS[@]}" "root@$(node_ip "$i")"
  fi
  ssh_retry "$(node_ip "$i")" "${SSH_OPTS[@]}" "root@$(node_ip "$i")" "$@"
}

cmd_push() {
  (($# == 3)) || die "usage: lab.sh push I SRC DEST"
  local i=$1 src=$2 dest=$3
  need_node "$i"
  ssh_opts
  local target
  target=root@$(node_ip "$i")
  if [[ -d $src ]]; then
    # one connection first, retried, so the tar stream is not lost to a reset at connect
    ssh_retry "$(node_ip "$i")" -n "${SSH_OPTS[@]}" "$target" true || return
    # shellcheck disable=SC2029 # quoted here, expanded by the node's shell on purpose
    tar -C "$src" -cf - . | ssh "${SSH_OPTS[@]}" "$target" \
      "mkdir -p -- $(printf %q "$dest") && tar -C $(printf %q "$dest") --no-same-owner -xf -"
  elif [[ -f $src ]]; then
    [[ $dest == */ ]] && dest=$dest$(basename "$src")
    local mode q tmp
    mode=$(stat -c %a "$src")
    q=$(printf %q "$dest")
    tmp=$(printf %q "$dest.lab-push.$$")
    # shellcheck disable=SC2029 # quoted here, expanded by the node's shell on purpose
    ssh_retry "$(node_ip "$i")" "${SSH_OPTS[@]}" "$target" \
      "mkdir -p -- \"\$(dirname -- $q)\" && cat > $tmp && chmod $mode $tmp && mv -f -- $tmp $q" <"$src"
  else
    die "push: \`$src\` is not a file or directory"
  fi
}

cmd_exec() {
  local i=${1:-}
  need_root
  need_running "$i"
  shift
  (($#)) || set -- /bin/bash -l
  local p
  p=$(init_pid "$i") || die "node lab$i has no PID 1 yet"
  exec nsenter -t "$p" -a -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
}

cmd_ip() { check_index "${1:-}"; node_ip "$1"; }
cmd_pid() { need_running "${1:-}"; init_pid "$1" || die "node lab$1 has no PID 1 yet"; }

cmd_kill() {
  need_root
  need_node "${1:-}"
  take_lock
  kill_node "$1"
  log "lab$1 killed (disk kept; lab.sh start $1 boots it again)"
}

cmd_start() {
  need_root
  need_node "${1:-}"
  take_lock
  T0=$SECONDS
  host_net_up
  boot_nodes "$1"
}

cmd_reset() {
  need_root
  need_node "${1:-}"
  local distro=""
  case "${2:-}" in
    "") ;;
    --distro) distro=${3:-} ;;
    --distro=*) distro=${2#--distro=} ;;
    *) die "usage: lab.sh reset I [--distro D]" ;;
  esac
  [[ -z $distro && -n ${2:-} ]] && die "usage: lab.sh reset I [--distro D]"
  [[ -z $distro ]] || check_distro "$distro"
  take_lock
  T0=$SECONDS
  local dir
  dir=$(node_dir "$1")
  kill_node "$1"
  umount_node "$1"
  mountpoint -q "$dir/root" && die "\`$dir/root\` is still mounted"
  rm -rf --one-file-system -- "$dir/upper" "$dir/work" "$dir/lower" "$dir/configured" "$dir/console.log"
  [[ -z $distro ]] || echo "$distro" >"$dir/distro"
  build_base "$(node_distro "$1")"
  host_net_up
  boot_nodes "$1"
  log "lab$1 reset: fresh disk, new host keys"
}

cmd_cut() {
  need_root
  need_running "${1:-}"
  take_lock
  ip link set "vb-lab$1" "$2"
}

cmd_isolate() {
  need_root
  take_lock
  local who=${2:-all}
  [[ $who == all ]] || need_node "$who"
  isolate_rule "$1" "$who"
}

cmd_status() {
  local i ip pid state sshs
  printf '%-6s %-12s %-9s %-8s %-8s %s\n' NODE ADDRESS RELEASE PID STATE SSH
  for i in $(existing_nodes); do
    ip=$(node_ip "$i")
    if pid=$(nspawn_pid "$i"); then
      state=running
      if [[ -f $KEY ]] && ssh_ok "$i"; then sshs=yes; else sshs=no; fi
    else
      pid=-
      state=stopped
      sshs=no
    fi
    [[ $(ip link show "vb-lab$i" 2>/dev/null) == *"state DOWN"* ]] && state="$state,cut"
    printf '%-6s %-12s %-9s %-8s %-8s %s\n' "lab$i" "$ip" "$(node_distro "$i")" "$pid" "$state" "$sshs"
  done
}

main() {
  local verb=${1:-}
  (($#)) && shift
  case $verb in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    base) need_root; ensure_host_tools; take_lock; build_base "${1:-bookworm}"; base_dir ;;
    status) cmd_status ;;
    ssh) cmd_ssh "$@" ;;
    push) cmd_push "$@" ;;
    exec) cmd_exec "$@" ;;
    ip) cmd_ip "$@" ;;
    pid) cmd_pid "$@" ;;
    kill) cmd_kill "$@" ;;
    start) cmd_start "$@" ;;
    reset) cmd_reset "$@" ;;
    cut) cmd_cut "${1:-}" down ;;
    heal) cmd_cut "${1:-}" up ;;
    isolate) cmd_isolate add "$@" ;;
    unisolate) cmd_isolate del "$@" ;;
    -h | --help | help) usage 0 ;;
    *) echo "lab: unknown verb \`$verb\`" >&2; usage ;;
  esac
}

T0=$SECONDS
main "$@"
