# SPDX-License-Identifier: GPL-2.0-only
# Host helpers for the scripts that serve images with nbdkit-dmmeta-plugin (POSIX sh):
# tests/cli/nbdkit-plugin.sh and tests/kernel/nbdkit-plugin-writes.sh.  Source after
# tests/lib.sh, from the scratch directory the script works in:
#   . "$SRCDIR/tests/cli/lib/nbdkit.sh"
#
#   PLUGIN, SOCK, URI       the plugin (skip, one line, when it was not built), the socket
#                           served on, the NBD URI of it
#   nbd_require CLIENT...   skip (one line) unless nbdkit and every CLIENT are installed
#   serve ARGS...           nbdkit in the background on $SOCK with the plugin and ARGS
#   stop [SIGNAL]           end it (TERM, the default: a clean exit; KILL: a crash)
#   qio ARGS...             qemu-io -f raw ARGS, output appended to qio.log
#   model FILE OFF LEN BYTE|zero   apply a write of LEN bytes BYTE (octal) at OFF to FILE
#   pattern OUT LEN BYTE    LEN bytes BYTE (octal) in OUT
# The caller kills a server still running at its exit: [ -n "$NBDKIT_PID" ] && kill -9 ...

PLUGIN=$BUILDDIR/plugin/nbdkit-dmmeta-plugin.so
[ -f "$PLUGIN" ] || skip "nbdkit plugin not built ($PLUGIN; needs nbdkit-plugin-dev)"

nbd_require() {
	for nr_c in nbdkit "$@"; do
		command -v "$nr_c" >/dev/null 2>&1 ||
			skip "$nr_c not found (apt-get install nbdkit libnbd-bin qemu-utils)"
	done
}

# A sanitizer build of the plugin needs its runtimes loaded first into nbdkit (not into the
# clients: the variables are given to nbdkit alone).  A ThreadSanitizer build (CFLAGS=
# -fsanitize=thread) makes nbdkit stop at the first data race (halt_on_error), so the
# clients fail.
SAN_PRELOAD=$(ldd "$PLUGIN" 2>/dev/null | awk '/lib(asan|ubsan|tsan)\.so/ { printf "%s%s", s, $3; s = ":" }')

# nbdkit_san ARGS...: exec nbdkit (the sanitizer runtimes preloaded when needed; under
# timeout $NB_TIMEOUT when it is set)
nbdkit_san() {
	# shellcheck disable=SC2086
	exec ${NB_TIMEOUT:+timeout $NB_TIMEOUT} \
		env ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD ASAN_OPTIONS=detect_leaks=0 TSAN_OPTIONS=halt_on_error=1} nbdkit "$@"
}

SOCK=$PWD/nbd.sock
URI="nbd+unix:///?socket=$SOCK"
NBDKIT_PID=

serve() {
	rm -f "$SOCK" nbdkit.pid
	nbdkit_san -f -U "$SOCK" -P "$PWD/nbdkit.pid" "$PLUGIN" "$@" 2>>nbdkit.err &
	NBDKIT_PID=$!
	i=0
	while [ ! -s nbdkit.pid ] || [ ! -S "$SOCK" ]; do
		kill -0 $NBDKIT_PID 2>/dev/null || { cat nbdkit.err >&2; fail "nbdkit $* did not start"; }
		i=$((i + 1))
		[ $i -lt 200 ] || { kill -9 $NBDKIT_PID; fail "nbdkit $* not ready after 10 s"; }
		sleep 0.05
	done
}

stop() {
	kill -"${1:-TERM}" $NBDKIT_PID
	wait $NBDKIT_PID 2>/dev/null
	NBDKIT_PID=
}

qio() {
	qemu-io -f raw "$@" >>qio.log 2>&1
}

model() {
	if [ "$4" = zero ]; then
		head -c "$3" /dev/zero
	else
		head -c "$3" /dev/zero | tr '\0' "\\$4"
	fi | dd of="$1" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc 2>/dev/null ||
		fail "model $*"
}

pattern() {
	head -c "$2" /dev/zero | tr '\0' "\\$3" >"$1"
}
