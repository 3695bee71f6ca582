"""Sign-in: local accounts (argon2), the council's identity provider (JWKS), devices and tokens."""
