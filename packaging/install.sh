#!/usr/bin/env bash
# Install hotelbot as a systemd service behind Caddy, or upgrade it in place.
#
#   sudo packaging/install.sh --domain atendimento.hotel.com.br
#
# First install: creates the hotelbot user, /var/lib/hotelbot (initialized),
# /etc/hotelbot/*.env, the executable, the unit, Caddy's configuration, and
# starts the service. Upgrade (an executable is already installed): stops the
# service, backs up the data directory, replaces the executable and the unit,
# and starts it again. The new version applies its migrations at start. The
# .env files and a Caddyfile edited by hand are kept.
#
# --destdir DIR installs into DIR as a staging root instead: no user, no
# ownership changes, no systemctl. The tests use it.
set -euo pipefail

SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPOSITORY_DIR="$(dirname "$SOURCE_DIR")"

SERVICE_USER=hotelbot
BIN=/usr/local/bin/hotelbot
ADMIN=/usr/local/sbin/hotelbot-admin
UNIT=/etc/systemd/system/hotelbot.service
CONFIG_DIR=/etc/hotelbot
ENV_FILE=/etc/hotelbot/hotelbot.env
CADDY_ENV_FILE=/etc/hotelbot/caddy.env
CADDYFILE=/etc/caddy/Caddyfile
CADDY_DROPIN=/etc/systemd/system/caddy.service.d/hotelbot.conf
SHARE_DIR=/usr/local/share/hotelbot
DOC_DIR=/usr/local/share/doc/hotelbot
DATA_DIR=/var/lib/hotelbot
CLI_UNPACK_DIR=/var/lib/hotelbot/run/cli
PLACEHOLDER_DOMAIN=atendimento.example.com.br

DESTDIR=""
BINARY=""
DOMAIN=""
WORK_DIR=""

usage() {
    cat <<EOF
Usage: install.sh [--domain NAME] [--binary PATH] [--destdir DIR]

  --domain NAME   public name of the service (HTTPS certificate, links to N8N);
                  written to /etc/hotelbot/*.env on the first install only
  --binary PATH   the hotelbot executable (default: ./hotelbot beside packaging/,
                  else dist/hotelbot)
  --destdir DIR   install into DIR as a staging root: no user, no systemctl
EOF
}

log() {
    printf 'install.sh: %s\n' "$*"
}

die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

require_value() {
    if [ $# -lt 2 ] || [ -z "$2" ]; then
        die "$1 needs a value"
    fi
}

parse_arguments() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --domain) require_value "$@"; DOMAIN="$2"; shift 2 ;;
            --binary) require_value "$@"; BINARY="$2"; shift 2 ;;
            --destdir) require_value "$@"; DESTDIR="$2"; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
    done
    DESTDIR="${DESTDIR%/}"
    if [ -n "$DOMAIN" ] && ! [[ "$DOMAIN" =~ ^[A-Za-z0-9.-]+$ ]]; then
        die "invalid --domain '$DOMAIN': expected a host name such as atendimento.hotel.com.br"
    fi
}

find_binary() {
    if [ -n "$BINARY" ]; then
        [ -f "$BINARY" ] || die "no executable at $BINARY"
    elif [ -f "$REPOSITORY_DIR/hotelbot" ]; then
        BINARY="$REPOSITORY_DIR/hotelbot"
    elif [ -f "$REPOSITORY_DIR/dist/hotelbot" ]; then
        BINARY="$REPOSITORY_DIR/dist/hotelbot"
    else
        die "no hotelbot executable found: pass --binary PATH (build one with make dist)"
    fi
    [ -x "$BINARY" ] || die "$BINARY is not executable (chmod +x it)"
    BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")"
}

# Run a system command, or only print it under --destdir.
system() {
    if [ -n "$DESTDIR" ]; then
        log "skipped under --destdir: $*"
        return 0
    fi
    "$@"
}

# Run a command as the service user, with the service's data directory.
as_service_user() {
    if [ -n "$DESTDIR" ]; then
        env HOTELBOT_DATA_DIR="$DESTDIR$DATA_DIR" TMPDIR="$DESTDIR$CLI_UNPACK_DIR" "$@"
    else
        # From /, since the service user may not be allowed into the current directory.
        (cd / && runuser -u "$SERVICE_USER" -- env HOTELBOT_DATA_DIR="$DATA_DIR" TMPDIR="$CLI_UNPACK_DIR" "$@")
    fi
}

# Print the version an executable reports, or nothing when it does not run.
binary_version() {
    local output
    output="$(TMPDIR="$WORK_DIR" "$1" --version 2>/dev/null)" || return 0
    printf '%s\n' "${output#hotelbot }"
}

owned_directory() {
    local mode="$1" path="$2"
    if [ -n "$DESTDIR" ]; then
        install -d -m "$mode" "$DESTDIR$path"
    else
        install -d -m "$mode" -o "$SERVICE_USER" -g "$SERVICE_USER" "$path"
    fi
}

check_system() {
    if [ -n "$DESTDIR" ]; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "run it as root: sudo $0 $*"
    command -v systemctl >/dev/null || die "systemctl not found: this script needs systemd"
    command -v runuser >/dev/null || die "runuser not found (package util-linux)"
}

create_user() {
    if [ -n "$DESTDIR" ] || getent passwd "$SERVICE_USER" >/dev/null; then
        return 0
    fi
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "hotelbot service" "$SERVICE_USER"
    log "created user $SERVICE_USER"
}

create_data_directory() {
    owned_directory 0700 "$DATA_DIR"
    owned_directory 0700 "$DATA_DIR/run"
    owned_directory 0700 "$CLI_UNPACK_DIR"
    WORK_DIR="$(mktemp -d "$DESTDIR$DATA_DIR/run/install.XXXXXX")"
    trap 'rm -rf "$WORK_DIR"' EXIT
}

stop_service() {
    if [ -z "$DESTDIR" ] && systemctl is-active --quiet hotelbot.service; then
        log "stopping hotelbot.service"
        systemctl stop hotelbot.service
    fi
}

# Copy the SQLite files without the old executable's backup command: the
# service is stopped, so the files are consistent.
copy_database_files() {
    local target="$1" name
    as_service_user mkdir -p "$target"
    for name in hotelbot.db queue.db secrets.json; do
        local source="$DESTDIR$DATA_DIR/$name"
        [ -f "$source" ] || continue
        if [[ "$name" == *.db ]] && command -v sqlite3 >/dev/null; then
            as_service_user sqlite3 "$source" ".backup '$target/$name'"
        else
            as_service_user cp -p "$source" "$target/$name"
        fi
    done
}

backup_data() {
    local installed="$DESTDIR$BIN" stamp target
    if [ ! -f "$DESTDIR$DATA_DIR/hotelbot.db" ]; then
        log "no database in $DESTDIR$DATA_DIR yet: nothing to back up"
        return 0
    fi
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    target="$DESTDIR$DATA_DIR/backups/before-upgrade-$stamp"
    owned_directory 0700 "$DATA_DIR/backups"

    if as_service_user "$installed" backup --help >/dev/null 2>&1; then
        if ! as_service_user "$installed" backup --data-dir "$DESTDIR$DATA_DIR" --to "$target.tar.gz" >/dev/null; then
            system systemctl start hotelbot.service
            die "the backup failed, so nothing was upgraded; the installed version runs again"
        fi
        log "backup written: $target.tar.gz (restore: hotelbot-admin restore FILE --replace)"
    else
        copy_database_files "$target"
        log "database files copied to $target"
    fi
}

install_files() {
    install -d -m 0755 "$DESTDIR$(dirname "$BIN")" "$DESTDIR$(dirname "$ADMIN")" \
        "$DESTDIR$(dirname "$UNIT")" "$DESTDIR$(dirname "$CADDY_DROPIN")" "$DESTDIR$SHARE_DIR" "$DESTDIR$DOC_DIR"

    # A copy beside the target, then a rename: a running process keeps its old file.
    install -m 0755 "$BINARY" "$DESTDIR$BIN.new"
    mv -f "$DESTDIR$BIN.new" "$DESTDIR$BIN"
    install -m 0755 "$SOURCE_DIR/hotelbot-admin" "$DESTDIR$ADMIN"
    install -m 0644 "$SOURCE_DIR/systemd/hotelbot.service" "$DESTDIR$UNIT"
    install -m 0644 "$SOURCE_DIR/systemd/caddy-hotelbot.conf" "$DESTDIR$CADDY_DROPIN"

    local doc
    for doc in "$REPOSITORY_DIR"/docs/deployment*.md; do
        [ -f "$doc" ] && install -m 0644 "$doc" "$DESTDIR$DOC_DIR/"
    done
    return 0
}

# Write a configuration file from its template unless it exists (upgrades keep it).
install_config() {
    local template="$1" target="$2" mode="$3" domain="${DOMAIN:-$PLACEHOLDER_DOMAIN}"
    if [ -e "$DESTDIR$target" ]; then
        log "kept $target"
        return 0
    fi
    sed "s/@DOMAIN@/$domain/g" "$template" > "$DESTDIR$target.new"
    chmod "$mode" "$DESTDIR$target.new"
    if [ -z "$DESTDIR" ]; then
        chown "root:$SERVICE_USER" "$target.new"
    fi
    mv -f "$DESTDIR$target.new" "$DESTDIR$target"
    log "wrote $target"
}

# Like a package's configuration file: replaced when it was not edited by hand,
# else the new version is put beside it. A Caddyfile that is not hotelbot's is
# renamed and kept.
install_caddyfile() {
    local target="$DESTDIR$CADDYFILE" pristine="$DESTDIR$SHARE_DIR/Caddyfile" new="$REPOSITORY_DIR/Caddyfile"
    install -d -m 0755 "$(dirname "$target")"

    if [ ! -e "$target" ]; then
        install -m 0644 "$new" "$target"
        log "wrote $CADDYFILE"
    elif cmp -s "$target" "$new"; then
        log "$CADDYFILE is up to date"
    elif [ -e "$pristine" ] && cmp -s "$target" "$pristine"; then
        install -m 0644 "$new" "$target"
        log "updated $CADDYFILE"
    elif grep -q "hotelbot" "$target"; then
        install -m 0644 "$new" "$target.hotelbot-new"
        log "kept $CADDYFILE, edited by hand; the new version is in $CADDYFILE.hotelbot-new"
    else
        local aside="$target.before-hotelbot"
        [ -e "$aside" ] && aside="$aside.$(date -u +%Y%m%dT%H%M%SZ)"
        mv "$target" "$aside"
        install -m 0644 "$new" "$target"
        log "wrote $CADDYFILE; the previous one is now ${aside#"$DESTDIR"}"
    fi
    install -m 0644 "$new" "$pristine"
}

initialize_data() {
    as_service_user "$DESTDIR$BIN" init --data-dir "$DESTDIR$DATA_DIR" >/dev/null
    log "initialized $DATA_DIR"
}

start_services() {
    system systemctl daemon-reload
    system systemctl enable hotelbot.service
    system systemctl restart hotelbot.service

    if grep -q "^HOTELBOT_DOMAIN=$PLACEHOLDER_DOMAIN\$" "$DESTDIR$CADDY_ENV_FILE"; then
        log "set HOTELBOT_DOMAIN in $CADDY_ENV_FILE, then: sudo systemctl restart caddy"
    elif [ -n "$DESTDIR" ] || systemctl cat caddy.service >/dev/null 2>&1; then
        # A restart, not a reload: the drop-in's environment applies only at start.
        system systemctl restart caddy.service
    else
        log "Caddy is not installed: sudo apt-get install caddy, then: sudo systemctl restart caddy"
    fi
}

main() {
    parse_arguments "$@"
    check_system "$@"
    find_binary
    create_user
    create_data_directory

    local new_version old_version=""
    new_version="$(binary_version "$BINARY")"
    [ -n "$new_version" ] || die "$BINARY does not run here (try: $BINARY --version)"
    if [ -f "$DESTDIR$BIN" ]; then
        old_version="$(binary_version "$DESTDIR$BIN")"
        log "upgrading hotelbot ${old_version:-(unknown version)} to $new_version"
        stop_service
        backup_data
    else
        log "installing hotelbot $new_version"
    fi

    install_files
    install -d -m 0755 "$DESTDIR$CONFIG_DIR"
    install_config "$SOURCE_DIR/config/hotelbot.env" "$ENV_FILE" 0640
    install_config "$SOURCE_DIR/config/caddy.env" "$CADDY_ENV_FILE" 0644
    install_caddyfile
    if [ ! -f "$DESTDIR$DATA_DIR/hotelbot.db" ]; then
        initialize_data
    fi
    start_services

    log "hotelbot $new_version installed; next: sudo hotelbot-admin tenant create --help"
}

main "$@"
