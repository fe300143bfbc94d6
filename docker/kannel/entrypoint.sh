#!/bin/bash
# Fill kannel.conf from the environment, then run bearerbox and smsbox; the container stops when either does.
set -euo pipefail
: "${KANNEL_SENDSMS_PASSWORD:?set KANNEL_SENDSMS_PASSWORD (the sms.password of callback)}"
: "${KANNEL_ADMIN_PASSWORD:?set KANNEL_ADMIN_PASSWORD}"
: "${CALLBACK_INBOUND_URL:?set CALLBACK_INBOUND_URL (what kannel_sms_service_url() prints for your secret)}"
for v in "$KANNEL_SENDSMS_PASSWORD" "$KANNEL_ADMIN_PASSWORD"; do
    [[ "$v" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "kannel-entrypoint: passwords: letters, digits, . _ - only" >&2; exit 1; }
done
# The URL holds '&' and Kannel's %-escapes: escape what sed's replacement would read.
escaped_url=${CALLBACK_INBOUND_URL//\\/\\\\}
escaped_url=${escaped_url//|/\\|}
escaped_url=${escaped_url//&/\\&}
sed -e "s|CHANGE_ME_SENDSMS_PASSWORD|${KANNEL_SENDSMS_PASSWORD}|" \
    -e "s|CHANGE_ME_ADMIN_PASSWORD|${KANNEL_ADMIN_PASSWORD}|" \
    -e "s|CALLBACK_INBOUND_URL|${escaped_url}|" \
    /etc/kannel/kannel.conf.template > /etc/kannel/kannel.conf
bearerbox -v 1 /etc/kannel/kannel.conf &
sleep 2
smsbox -v 1 /etc/kannel/kannel.conf &
wait -n
exit 1
