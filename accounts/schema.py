"""The API's OpenAPI schema generator (DEFAULT_SCHEMA_CLASS).

Apart from accounts.rest because DRF imports that module while it initializes, and
drf-spectacular's AutoSchema imports DRF's views.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_doc
from rest_framework import serializers

from accounts.rest import InputSerializer, is_plain_text, trimmed_text_pattern

_INPUT_SERIALIZER_DOC = get_doc(InputSerializer)


def _text_pattern(field) -> str:
    return trimmed_text_pattern(
        min_length=field.min_length, max_length=field.max_length, allow_blank=field.allow_blank
    )


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, with the rules of plain text fields in request bodies."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and is_plain_text(field)
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
        ):
            schema["pattern"] = _text_pattern(field)
        if (
            direction == "request"
            and isinstance(field, serializers.FileField)
            and not field.allow_empty_file
            and schema.get("format") == "binary"
        ):
            schema["minLength"] = 1  # DRF refuses an empty file
        return schema

    def _insert_field_validators(self, field, schema):
        # The text pattern already allows the empty string where blank is allowed: keep
        # drf-spectacular from adding a second way to match it (a oneOf that "" matches twice).
        own = is_plain_text(field) and schema.get("pattern") == _text_pattern(field)
        if own:
            pattern = schema.pop("pattern")
        super()._insert_field_validators(field, schema)
        if own:
            schema["pattern"] = pattern

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        # The base class explains the checks to developers; it does not describe any input.
        if schema.get("description") == _INPUT_SERIALIZER_DOC:
            del schema["description"]
        return schema
