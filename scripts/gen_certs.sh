#!/usr/bin/env bash
# A test certificate authority, a server certificate for NATS and a client certificate for the
# services, for trying TLS and mutual TLS on the bus. Not for production: use your own PKI there.
# Usage: scripts/gen_certs.sh [DIR] [SERVER_NAMES]   (default DIR: .pagi/certs; names: localhost,127.0.0.1)
set -euo pipefail
dir=${1:-.pagi/certs}
names=${2:-localhost,127.0.0.1}
mkdir -p "$dir"
cd "$dir"
umask 077

san=""
IFS=',' read -ra parts <<< "$names"
for name in "${parts[@]}"; do
    if [[ $name =~ ^[0-9.]+$ ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
done
san=${san%,}

openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=PAGI test CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null

openssl req -newkey rsa:2048 -nodes -subj "/CN=pagi-nats" -keyout server-key.pem -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") -out server.pem 2>/dev/null

openssl req -newkey rsa:2048 -nodes -subj "/CN=pagi-service" -keyout client-key.pem -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
    -extfile <(printf 'extendedKeyUsage=clientAuth\n') -out client.pem 2>/dev/null

rm -f server.csr client.csr ca.srl
echo "wrote $(pwd): ca.pem, server.pem, server-key.pem, client.pem, client-key.pem"
echo "server: NATS_TLS_SERVER_CERT=$(pwd)/server.pem NATS_TLS_SERVER_KEY=$(pwd)/server-key.pem NATS_TLS_CA=$(pwd)/ca.pem"
echo "services: NATS_TLS_CERT=$(pwd)/client.pem NATS_TLS_KEY=$(pwd)/client-key.pem NATS_TLS_CA=$(pwd)/ca.pem"
