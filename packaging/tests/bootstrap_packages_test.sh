#!/usr/bin/env bash
# bootstrap.sh's package step, with stand-ins for dpkg-query, id, sudo, apt-get and cmake first on PATH
# (each logs its call; cmake does nothing, so no build runs):
#   - `packages demo` has what the demo needs and no Slurm, munge or sshd; `packages test` has them
#     and dpkg-dev and lintian;
#   - every package present, not root: no apt-get and no sudo at all;
#   - a package missing, not root, no sudo: exit 1 naming it, no apt-get;
#   - a package missing, not root, sudo there: sudo apt-get install of just that package;
#   - a package missing, root: apt-get install of just that package, no sudo;
#   - RTY_NO_APT=1: no dpkg-query, no apt-get.
set -uo pipefail
src=${RTY_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

demo=$("$src/bootstrap.sh" packages demo) || fail "bootstrap.sh packages demo"
testp=$("$src/bootstrap.sh" packages test) || fail "bootstrap.sh packages test"
for p in g++ cmake libboost-json1.81-dev libyaml-cpp-dev libssh2-1-dev zlib1g-dev python3 bc; do
  grep -qx "$p" <<<"$demo" || fail "demo needs $p"
done
for p in slurmctld slurmd slurm-client munge openssh-server dpkg-dev lintian; do
  if grep -qx "$p" <<<"$demo"; then fail "demo installs $p (test needs it, the demo does not)"; fi
  grep -qx "$p" <<<"$testp" || fail "test does not install $p"
done

# Stand-ins. FAKE_MISSING: packages dpkg-query reports as not installed; FAKE_UID: what id -u says.
bin=$tmp/bin log=$tmp/calls
mkdir -p "$bin"
cat >"$bin/dpkg-query" <<'EOF'
#!/bin/sh
echo "dpkg-query $*" >>"$FAKE_LOG"
pkg=$(eval echo "\${$#}")
for m in $FAKE_MISSING; do [ "$m" = "$pkg" ] && { echo "unknown ok not-installed"; exit 0; }; done
echo "install ok installed"
EOF
cat >"$bin/id" <<'EOF'
#!/bin/sh
[ "$1" = -u ] && { echo "$FAKE_UID"; exit 0; }
exec /usr/bin/id "$@"
EOF
for c in apt-get cmake; do printf '#!/bin/sh\necho "%s $*" >>"$FAKE_LOG"\nexit 0\n' "$c" >"$bin/$c"; done
printf '#!/bin/sh\necho "sudo $*" >>"$FAKE_LOG"\nexec "$@"\n' >"$bin/sudo.real"
chmod +x "$bin"/*

run() {  # run <name> <uid> <missing> <with sudo: 0|1> [env...]: bootstrap.sh build with the stand-ins
  local name=$1 uid=$2 missing=$3 sudo=$4 path
  shift 4
  rm -f "$bin/sudo" "$log"
  : >"$log"
  [ "$sudo" = 1 ] && cp "$bin/sudo.real" "$bin/sudo"
  env -i PATH="$bin:$tools" HOME="$tmp" FAKE_LOG="$log" FAKE_UID="$uid" FAKE_MISSING="$missing" "$@" \
    bash "$src/bootstrap.sh" build >"$tmp/$name.out" 2>&1
  echo $? >"$tmp/$name.rc"
}
has() { grep -q "$2" "$log" || fail "$1: no call matching '$2' ($(tr '\n' ';' <"$log"))"; }
hasnt() { if grep -q "$2" "$log"; then fail "$1: unexpected call '$(grep "$2" "$log" | head -1)'"; fi; }

# PATH holds only the stand-ins and links to the few real tools bootstrap.sh's package step uses, so
# that a real sudo, apt-get or cmake is never reached.
tools=$tmp/tools
mkdir -p "$tools"
for t in bash grep nproc dirname env; do
  real=$(command -v "$t") || { echo "FAILED: no $t" >&2; exit 1; }
  ln -s "$real" "$tools/$t"
done

run present 1000 "" 1
[ "$(cat "$tmp/present.rc")" = 0 ] || { cat "$tmp/present.out" >&2; fail "present: exit $(cat "$tmp/present.rc")"; }
has present '^dpkg-query'
hasnt present '^apt-get'
hasnt present '^sudo'
has present '^cmake'

run nosudo 1000 "libssh2-1-dev" 0
[ "$(cat "$tmp/nosudo.rc")" = 1 ] || fail "nosudo: exit $(cat "$tmp/nosudo.rc"), not 1"
grep -q 'missing Debian packages: libssh2-1-dev' "$tmp/nosudo.out" || { cat "$tmp/nosudo.out" >&2; fail "nosudo: package not named"; }
hasnt nosudo '^apt-get'
hasnt nosudo '^cmake'

run sudo 1000 "libssh2-1-dev" 1
[ "$(cat "$tmp/sudo.rc")" = 0 ] || { cat "$tmp/sudo.out" >&2; fail "sudo: exit $(cat "$tmp/sudo.rc")"; }
has sudo '^sudo .*apt-get install .* libssh2-1-dev$'

run root 0 "zlib1g-dev" 1
[ "$(cat "$tmp/root.rc")" = 0 ] || { cat "$tmp/root.out" >&2; fail "root: exit $(cat "$tmp/root.rc")"; }
has root '^apt-get install .* zlib1g-dev$'
hasnt root '^sudo'

run noapt 1000 "zlib1g-dev" 0 RTY_NO_APT=1
[ "$(cat "$tmp/noapt.rc")" = 0 ] || { cat "$tmp/noapt.out" >&2; fail "noapt: exit $(cat "$tmp/noapt.rc")"; }
hasnt noapt '^dpkg-query'
hasnt noapt '^apt-get'
grep -q 'not checking Debian packages (RTY_NO_APT set)' "$tmp/noapt.out" || { cat "$tmp/noapt.out" >&2; fail "noapt: no message"; }

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "bootstrap package step: as expected in every case"
