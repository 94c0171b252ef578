#!/bin/sh
# Test certificates for the TLS tests of echo-probe, made fresh in directory $1 (valid 2 days):
#   ca.pem/ca.key            the CA the test servers and clients trust
#   other-ca.pem/.key        a CA nobody uses (verification against it must fail)
#   server.pem/.key          CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1 (serverAuth)
#   client.pem/.key          CN=echo-probe-client (clientAuth), signed by ca
set -e
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() {  # leaf NAME CA CN EXTENSIONS
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
    -out "$1.pem" -extfile "$1.ext" 2>/dev/null
}
ca ca echo-probe-test-ca
ca other-ca echo-probe-other-ca
leaf server ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth"
leaf client ca echo-probe-client "extendedKeyUsage=clientAuth"
