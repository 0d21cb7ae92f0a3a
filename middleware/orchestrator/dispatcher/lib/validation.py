"""Fields and validators shared by the API's schemas and the actions' parameters."""
from marshmallow import ValidationError, fields, validate

from dispatcher.config import setting

#: Field metadata naming a setting whose keys are the field's only valid values, e.g. ``PLANS``;
#: the OpenAPI document lists them as the field's ``enum``.
CHOICES_FROM = "choices_from"
#: ``format`` names of the OpenAPI document, for strings whose validity is more than a pattern.
TIME_FORMAT = "orchestrator-time"       # ISO 8601 or a human date, read in a schedule's timezone
ZONE_FORMAT = "iana-timezone"           # a name of the IANA time-zone database
CRON_FORMAT = "cron"                    # five cron fields, or @daily, @hourly...
RRULE_FORMAT = "rrule"                  # an RFC 5545 RRULE line, after a DTSTART line if wanted
URL_FORMAT = "http-url"                 # an absolute http(s) URL that the network policy permits
#: Field metadata naming a setting without which the field (a list) must stay empty, e.g.
#: ``SMTP_URL``; the OpenAPI document says ``maxItems: 0`` while it is not set.
NEEDS_SETTING = "needs_setting"


class FullMatch(validate.Regexp):
    """A pattern the whole value must match: ``$`` alone lets a trailing newline through."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` only: marshmallow's Boolean also takes 1, "yes", "on"..."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class SettingRange(validate.Validator):
    """A number from ``min`` up to the current value of the setting ``maximum`` (e.g.
    ``PAGE_SIZE_MAX``), read when validating, so that operators' limits are the API's."""

    def __init__(self, min, maximum):
        self.min = min
        self.setting = maximum

    @property
    def max(self):
        return setting(self.setting)

    def __call__(self, value):
        if value < self.min or value > self.max:
            raise ValidationError(f"Must be greater than or equal to {self.min} and less than or equal to "
                                  f"{self.max} ({self.setting}).")
        return value
