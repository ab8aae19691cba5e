# Shared by scripts/test.sh, scripts/bench.sh and scripts/vpcd-env.sh: install what the PC/SC tests need,
# write a private pcscd configuration with 10 vpcd slots, start and stop that pcscd by its PID.
# Source it; every function fails loudly.

KIOSK_APT_PACKAGES="libpcsclite-dev libssl-dev libsqlite3-dev sqlite3 pkg-config pcscd vsmartcard-vpcd pcsc-tools systemd"
KIOSK_STATE_DIR="${KIOSK_STATE_DIR:-${TMPDIR:-/tmp}/cardkiosk-pcscd}"
KIOSK_PCSCD_PIDFILE="$KIOSK_STATE_DIR/pcscd.pid"
KIOSK_PCSCD_LOG="$KIOSK_STATE_DIR/pcscd.log"
KIOSK_PCSCD_CONFIG="$KIOSK_STATE_DIR/reader.conf.d"
KIOSK_VPCD_DRIVER="/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
# vpcd entries in the private configuration; each gives two readers (slots 0 and 1).
KIOSK_VPCD_ENTRIES=5
# First vpcd port of the private configuration. Below Linux's ephemeral range (32768-60999): vpcd's default
# 35963 lies inside it, so an outgoing connection of any test (or a card connecting while pcscd is down,
# which can connect to itself) could hold the port when a restarted pcscd binds it.
KIOSK_VPCD_BASE_PORT="${KIOSK_VPCD_BASE_PORT:-29963}"

kiosk_die() { echo "error: $*" >&2; exit 1; }

# Installs the apt packages when something is missing (as root), or prints the exact command.
kiosk_require_packages() {
    local missing=""
    pkg-config --exists libpcsclite 2>/dev/null || missing="yes"
    pkg-config --exists libcrypto 2>/dev/null || missing="yes"
    pkg-config --exists sqlite3 2>/dev/null || missing="yes"
    command -v sqlite3 >/dev/null 2>&1 || missing="yes"
    command -v systemd-analyze >/dev/null 2>&1 || missing="yes"
    command -v scriptor >/dev/null 2>&1 || missing="yes"
    command -v pcscd >/dev/null 2>&1 || [ -x /usr/sbin/pcscd ] || missing="yes"
    [ -e "$KIOSK_VPCD_DRIVER" ] || missing="yes"
    command -v pcsc_scan >/dev/null 2>&1 || missing="yes"
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: PC/SC packages are missing. Install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y $KIOSK_APT_PACKAGES" >&2
        exit 1
    fi
    echo "==> installing $KIOSK_APT_PACKAGES"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || kiosk_die "apt-get update failed"
    apt-get install -y -qq $KIOSK_APT_PACKAGES >/dev/null || kiosk_die "apt-get install $KIOSK_APT_PACKAGES failed"
    pkg-config --exists libpcsclite || kiosk_die "libpcsclite still missing after install"
    [ -e "$KIOSK_VPCD_DRIVER" ] || kiosk_die "vpcd driver still missing after install ($KIOSK_VPCD_DRIVER)"
}

# The reader name pcscd gives slot $2 of vpcd entry $1.
kiosk_vpcd_reader_name() {
    if [ "$1" -eq 0 ]; then echo "Virtual PCD 00 0$2"; else echo "Virtual PCD $1 00 0$2"; fi
}

# Writes the private configuration: entry i listens on ports BASE+2i (slot 0) and BASE+2i+1 (slot 1).
# vpcd keeps its slot state in globals indexed by slot only, so each entry loads its own copy of the
# driver (a second entry sharing one library would overwrite the first one's sockets).
kiosk_write_vpcd_config() {
    rm -rf "$KIOSK_PCSCD_CONFIG" "$KIOSK_STATE_DIR/drivers"
    mkdir -p "$KIOSK_PCSCD_CONFIG" "$KIOSK_STATE_DIR/drivers"
    local i port name
    for i in $(seq 0 $((KIOSK_VPCD_ENTRIES - 1))); do
        port=$((KIOSK_VPCD_BASE_PORT + 2 * i))
        name="Virtual PCD"; [ "$i" -gt 0 ] && name="Virtual PCD $i"
        cp "$(readlink -f "$KIOSK_VPCD_DRIVER")" "$KIOSK_STATE_DIR/drivers/libifdvpcd$i.so"
        printf 'FRIENDLYNAME "%s"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n' \
            "$name" "$port" "$KIOSK_STATE_DIR/drivers/libifdvpcd$i.so" "$port" > "$KIOSK_PCSCD_CONFIG/vpcd$i"
    done
}

# True when a live (not zombie) pcscd owns /run/pcscd.
kiosk_pcscd_running() {
    local pid
    pid=$(tr -d '\0' 2>/dev/null < /run/pcscd/pcscd.pid) || return 1
    [ -n "$pid" ] && [ -e "/proc/$pid" ] && ! grep -q '^[^ ]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}

# Starts our own pcscd in the foreground (in the background of this shell) with the private configuration
# and waits until it lists every vpcd reader.
kiosk_start_pcscd() {
    mkdir -p "$KIOSK_STATE_DIR"
    if kiosk_pcscd_running; then
        local owner; owner=$(tr -d '\0' < /run/pcscd/pcscd.pid)
        if [ "$owner" = "$(cat "$KIOSK_PCSCD_PIDFILE" 2>/dev/null)" ]; then
            echo "==> stopping pcscd $owner left by an earlier run"
            kiosk_stop_pcscd
        else
            kiosk_die "another pcscd (pid $owner) is running; the tests need their own. Stop it first:
  systemctl stop pcscd.socket pcscd    # or: kill $owner"
        fi
    fi
    rm -f /run/pcscd/pcscd.pid /run/pcscd/pcscd.comm
    local pcscd; pcscd=$(command -v pcscd || echo /usr/sbin/pcscd)
    "$pcscd" --foreground -c "$KIOSK_PCSCD_CONFIG" >> "$KIOSK_PCSCD_LOG" 2>&1 &
    echo $! > "$KIOSK_PCSCD_PIDFILE"
    disown 2>/dev/null || true  # tests may kill and replace it; no job-control noise
    local want=$((KIOSK_VPCD_ENTRIES * 2)) n=0 tries=0
    while [ $tries -lt 100 ]; do
        kill -0 "$(cat "$KIOSK_PCSCD_PIDFILE")" 2>/dev/null || { tail -20 "$KIOSK_PCSCD_LOG" >&2; kiosk_die "pcscd exited at start (log above)"; }
        n=$(timeout 2 pcsc_scan -r 2>/dev/null | grep -c 'Virtual PCD' || true)
        [ "$n" -ge "$want" ] && break
        sleep 0.1; tries=$((tries + 1))
    done
    [ "$n" -ge "$want" ] || { tail -20 "$KIOSK_PCSCD_LOG" >&2; kiosk_die "pcscd lists $n of $want vpcd readers after 10 s"; }
    echo "==> pcscd $(cat "$KIOSK_PCSCD_PIDFILE") running with $n vpcd readers (log: $KIOSK_PCSCD_LOG)"
}

# Stops the pcscd named in the PID file (tests that restart pcscd keep that file current).
kiosk_stop_pcscd() {
    local pid; pid=$(cat "$KIOSK_PCSCD_PIDFILE" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i=0
        while kill -0 "$pid" 2>/dev/null && ! grep -q '^[^ ]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null && [ $i -lt 30 ]; do
            sleep 0.1; i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -f "$KIOSK_PCSCD_PIDFILE" /run/pcscd/pcscd.pid /run/pcscd/pcscd.comm
    echo "==> pcscd $pid stopped"
}

# The environment the integration tests read.
kiosk_export_test_env() {
    export KIOSK_PCSC_INTEGRATION=1
    export KIOSK_TEST_PCSCD_PIDFILE="$KIOSK_PCSCD_PIDFILE"
    export KIOSK_TEST_PCSCD_CONFIG="$KIOSK_PCSCD_CONFIG"
    export KIOSK_TEST_PCSCD_LOG="$KIOSK_PCSCD_LOG"
    export KIOSK_TEST_VPCD_BASE_PORT="$KIOSK_VPCD_BASE_PORT"
}
