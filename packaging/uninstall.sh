#!/usr/bin/env bash
# Remove the hotelbot service installed by install.sh.
#
#   sudo packaging/uninstall.sh            keeps /var/lib/hotelbot, /etc/hotelbot and the user
#   sudo packaging/uninstall.sh --purge    also deletes them: every message, media file and key
#
# --destdir DIR works on a staging root, as install.sh --destdir does.
set -euo pipefail

SERVICE_USER=hotelbot
BIN=/usr/local/bin/hotelbot
ADMIN=/usr/local/sbin/hotelbot-admin
UNIT=/etc/systemd/system/hotelbot.service
CONFIG_DIR=/etc/hotelbot
CADDYFILE=/etc/caddy/Caddyfile
CADDY_DROPIN=/etc/systemd/system/caddy.service.d/hotelbot.conf
SHARE_DIR=/usr/local/share/hotelbot
DOC_DIR=/usr/local/share/doc/hotelbot
DATA_DIR=/var/lib/hotelbot

DESTDIR=""
PURGE=0

usage() {
    cat <<EOF
Usage: uninstall.sh [--purge] [--destdir DIR]

  --purge         also delete the data directory $DATA_DIR (database, media,
                  keys), $CONFIG_DIR and the $SERVICE_USER user
  --destdir DIR   work on DIR as a staging root: no user, no systemctl
EOF
}

log() {
    printf 'uninstall.sh: %s\n' "$*"
}

die() {
    printf 'uninstall.sh: error: %s\n' "$*" >&2
    exit 1
}

system() {
    if [ -n "$DESTDIR" ]; then
        log "skipped under --destdir: $*"
        return 0
    fi
    "$@"
}

require_value() {
    if [ $# -lt 2 ] || [ -z "$2" ]; then
        die "$1 needs a value"
    fi
}

parse_arguments() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --purge) PURGE=1; shift ;;
            --destdir) require_value "$@"; DESTDIR="$2"; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
    done
    DESTDIR="${DESTDIR%/}"
}

check_system() {
    if [ -n "$DESTDIR" ]; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "run it as root: sudo $0"
    command -v systemctl >/dev/null || die "systemctl not found: this script needs systemd"
}

stop_service() {
    if [ -n "$DESTDIR" ] || [ ! -e "$UNIT" ]; then
        return 0
    fi
    systemctl disable --now hotelbot.service
    log "stopped and disabled hotelbot.service"
}

# Put back the Caddyfile that install.sh set aside, when Caddy still runs hotelbot's.
restore_caddyfile() {
    local target="$DESTDIR$CADDYFILE" aside="$DESTDIR$CADDYFILE.before-hotelbot"
    rm -f "$target.hotelbot-new"
    if [ ! -e "$target" ] || ! grep -q "hotelbot" "$target"; then
        return 0
    fi
    if [ -e "$aside" ]; then
        mv -f "$aside" "$target"
        log "restored the previous $CADDYFILE"
    else
        log "left $CADDYFILE in place: it still proxies to hotelbot, so edit or replace it"
    fi
}

remove_files() {
    rm -f "$DESTDIR$BIN" "$DESTDIR$ADMIN" "$DESTDIR$UNIT" "$DESTDIR$CADDY_DROPIN"
    rmdir "$DESTDIR$(dirname "$CADDY_DROPIN")" 2>/dev/null || true
    rm -rf "$DESTDIR$SHARE_DIR" "$DESTDIR$DOC_DIR"
    log "removed the executable, hotelbot-admin, the unit and Caddy's drop-in"
}

purge() {
    rm -rf "$DESTDIR$DATA_DIR" "$DESTDIR$CONFIG_DIR"
    log "deleted $DATA_DIR and $CONFIG_DIR"
    if [ -z "$DESTDIR" ] && getent passwd "$SERVICE_USER" >/dev/null; then
        userdel "$SERVICE_USER"
        log "deleted user $SERVICE_USER"
    fi
}

main() {
    parse_arguments "$@"
    check_system

    stop_service
    restore_caddyfile
    remove_files
    system systemctl daemon-reload
    if [ -z "$DESTDIR" ] && systemctl is-active --quiet caddy.service; then
        systemctl restart caddy.service
    fi

    if [ "$PURGE" -eq 1 ]; then
        purge
    else
        log "kept $DATA_DIR (data and keys) and $CONFIG_DIR; --purge deletes them"
    fi
}

main "$@"
