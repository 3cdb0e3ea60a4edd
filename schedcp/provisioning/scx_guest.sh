# Runs scx scheduler binaries from the host tree in the micro-VM. Source it from a guest
# script run with share_host=True and the files of scx.scx_guest_files(kernel):
#   . ./scx_guest.sh
#   scx_start LOG BINARY [ARGS...]   # BINARY: its path on the host; sets SCX_PID
#   ... wait for /sys/kernel/sched_ext/state to read "enabled" (scx_lavd: up to 120 s under TCG)
#   scx_stop                         # SIGINT, as a user stops it; returns its exit status
# The binary runs in the guest's own root, not chrooted into /host: the guest's trixie
# libraries cover what it links (libelf, libz, libgcc_s, libm, libc), and the guest's /boot
# is writable, where libbpf reads the kernel config to fill the BPF programs' __kconfig externs.
mkdir -p /boot
cp /schedcp/kernel-config "/boot/config-$(uname -r)"

scx_start() {
  scx_log=$1
  scx_binary=$2
  shift 2
  "/host$scx_binary" "$@" < /dev/null > "$scx_log" 2>&1 &
  SCX_PID=$!
}

scx_stop() {
  kill -INT "$SCX_PID" 2>/dev/null
  wait "$SCX_PID"
}
