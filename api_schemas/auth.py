"""Sign-in, token and identity shapes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api_schemas.common import StrictSchema, text

DEVICE_ID = validate.Regexp(r"^[A-Za-z0-9._:-]{1,100}$", error="Use 1-100 letters, digits, . _ : -")


class TokenRequestSchema(StrictSchema):
    """Username and password, optionally with the tablet's device id."""

    username = text(150, required=True)
    password = text(1024, required=True, load_only=True)
    device_id = fields.String(validate=DEVICE_ID, load_default=None, allow_none=True)
    device_name = text(200, load_default=None, allow_none=True)


class RefreshRequestSchema(StrictSchema):
    """A refresh token to rotate."""

    refresh_token = text(200, required=True)


class TokenResponseSchema(Schema):
    """An access token (short-lived) and a refresh token (rotates on every use)."""

    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(dump_default="Bearer")
    expires_in = fields.Integer(metadata={"description": "Seconds until the access token expires"})


class TeamSchema(Schema):
    """A team."""

    id = fields.UUID()
    name = fields.String()
    display_name = fields.String()


class MeSchema(Schema):
    """Who is signed in."""

    id = fields.UUID()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    teams = fields.List(fields.Nested(TeamSchema))


class PersonSchema(Schema):
    """A user as shown on records: who allocated, who recorded."""

    id = fields.UUID()
    username = fields.String()
    display_name = fields.String()
