#!/bin/sh
# Copy asterisk_conf/ into /etc/asterisk, filling the placeholders from the environment. Secrets arrive as
# environment variables (or *_FILE paths to Docker secrets) and are never baked into the image.
set -eu

read_secret() {  # $1: variable name; uses $1, or the file named by ${1}_FILE
    eval "value=\${$1:-}"
    eval "file=\${$1_FILE:-}"
    if [ -z "$value" ] && [ -n "$file" ]; then value=$(cat "$file"); fi
    printf '%s' "$value"
}

ARI_PASSWORD=$(read_secret ARI_PASSWORD)
if [ -z "$ARI_PASSWORD" ]; then
    echo "asterisk-entrypoint: set ARI_PASSWORD (or ARI_PASSWORD_FILE)" >&2
    exit 1
fi
ADMIN_SIP_PASSWORD=$(read_secret ADMIN_SIP_PASSWORD)
LEAD_SIP_PASSWORD=$(read_secret LEAD_SIP_PASSWORD)
TRUNK_PASSWORD=$(read_secret TRUNK_PASSWORD)

# The values are substituted with sed: keep them to letters, digits and . _ - @ : (e.g. `openssl rand -hex 24`).
for v in "$ARI_PASSWORD" "$ADMIN_SIP_PASSWORD" "$LEAD_SIP_PASSWORD" "$TRUNK_PASSWORD" \
         "${CARRIER_HOST:-}" "${TRUNK_USERNAME:-}" "${HTTP_BINDADDR:-}"; do
    case "$v" in
        *[!A-Za-z0-9._@:+-]*)
            echo "asterisk-entrypoint: a setting holds a character outside A-Z a-z 0-9 . _ - @ : +" >&2
            exit 1 ;;
    esac
done

fill() {  # $1: a template, $2: where the filled copy goes
    sed -e "s|CHANGE_ME_ARI_PASSWORD|${ARI_PASSWORD}|g" \
        -e "s|CHANGE_ME_ADMIN_PASSWORD|${ADMIN_SIP_PASSWORD:-CHANGE_ME_ADMIN_PASSWORD}|g" \
        -e "s|CHANGE_ME_LEAD_PASSWORD|${LEAD_SIP_PASSWORD:-CHANGE_ME_LEAD_PASSWORD}|g" \
        -e "s|CHANGE_ME_TRUNK_PASSWORD|${TRUNK_PASSWORD:-CHANGE_ME_TRUNK_PASSWORD}|g" \
        -e "s|CARRIER_HOST|${CARRIER_HOST:-CARRIER_HOST}|g" \
        -e "s|TRUNK_USERNAME|${TRUNK_USERNAME:-TRUNK_USERNAME}|g" \
        "$1" > "$2"
}
for f in /etc/asterisk-templates/*.conf; do
    fill "$f" "/etc/asterisk/$(basename "$f")"
done
# The trunk is read (pjsip.conf's #tryinclude) only once the carrier is known: a trunk with placeholders in it
# makes Asterisk log errors on every load.
rm -f /etc/asterisk/pjsip_trunk.conf
if [ -n "${CARRIER_HOST:-}" ]; then
    fill /etc/asterisk-templates/pjsip_trunk.conf.example /etc/asterisk/pjsip_trunk.conf
fi
# Inside the compose network ARI must listen beyond loopback; the port is not published to the host.
sed -i "s|^bindaddr = .*|bindaddr = ${HTTP_BINDADDR:-0.0.0.0}|" /etc/asterisk/http.conf
chown asterisk:asterisk /etc/asterisk/*.conf
chmod 0640 /etc/asterisk/*.conf

exec "$@"
