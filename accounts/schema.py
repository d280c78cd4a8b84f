"""The API's OpenAPI schema generator (DEFAULT_SCHEMA_CLASS).

Apart from accounts.rest because DRF imports that module while it initializes, and
drf-spectacular's AutoSchema imports DRF's views.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from accounts.rest import is_plain_text, trimmed_text_pattern


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
            schema["pattern"] = trimmed_text_pattern(
                min_length=field.min_length,
                max_length=field.max_length,
                allow_blank=field.allow_blank,
            )
        return schema
