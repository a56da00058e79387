#!/bin/sh
# Make a throw-away CA, a server certificate for localhost/127.0.0.1 and a client certificate (for a
# till, mTLS), for trying TLS locally or in tests. Not for production: use your PKI there.
#
# Usage: scripts/make_test_certs.sh [OUT_DIR]   (default: ./certs)
# Then:  LOYALTY_TLS_CERT_FILE=certs/server.pem LOYALTY_TLS_KEY_FILE=certs/server.key \
#        [LOYALTY_TLS_CLIENT_CA_FILE=certs/ca.pem] loyalty-service serve
#        loyalty-service health --tls-ca certs/ca.pem
set -eu
out="${1:-certs}"
mkdir -p "$out"
cd "$out"
umask 077
days=30

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days "$days" \
  -subj "/CN=loyalty test CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() {  # name, subject, extensions
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

issue server "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
basicConstraints=CA:FALSE"
issue client "/CN=till-store-1" "extendedKeyUsage=clientAuth
basicConstraints=CA:FALSE"
rm -f ca.srl
chmod 644 ca.pem server.pem client.pem
echo "wrote $(pwd): ca.pem ca.key server.pem server.key client.pem client.key"
