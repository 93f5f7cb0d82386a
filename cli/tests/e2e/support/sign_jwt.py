"""Signs a Cognito-shaped ID token for the admin API's tests, with moto's own key (what the local
user pool signs with: a token that is genuine but expired) or with a fresh key (a forgery).

Usage: sign_jwt.py genuine|forged CLAIMS_JSON  (prints the token)
Runs under the moto virtualenv's python, which has joserfc and moto's key.
"""

import gzip
import importlib.resources
import json
import sys

from joserfc import jwt
from joserfc.jwk import RSAKey


def moto_key() -> RSAKey:
    raw = importlib.resources.files("moto.cognitoidp.resources").joinpath("jwks-private.json.gz").read_bytes()
    return RSAKey.import_key(json.loads(gzip.decompress(raw)))


def main() -> None:
    kind, claims = sys.argv[1], json.loads(sys.argv[2])
    key = moto_key() if kind == "genuine" else RSAKey.generate_key(2048)
    print(jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, key))


if __name__ == "__main__":
    main()
