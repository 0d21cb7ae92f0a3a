"""Sphinx helpers of Orchestrator's documentation.

``.. schema-fields:: package.module.SchemaClass`` renders the fields of a marshmallow schema
(the one that validates them) as a table, so the reference of actions cannot drift from the
code. :func:`pin_json_field_directions` makes httpdomain read ``:<json``/``:>json`` the way the
views write them, whatever its version.
"""
from importlib import import_module

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from marshmallow import fields, missing, validate

TYPES = [  # most specific first: Integer is a Number, Float too
    (fields.Boolean, "boolean"), (fields.Integer, "integer"), (fields.Float, "number"),
    (fields.String, "string"), (fields.Dict, "object"), (fields.Nested, "object"),
    (fields.List, "array"), (fields.Raw, "any"),
]


def json_type(field):
    for cls, name in TYPES:
        if isinstance(field, cls) and (cls is not fields.Raw or type(field) is fields.Raw):
            if isinstance(field, fields.List):
                return f"array of {json_type(field.inner)}"
            return name
    return "custom"


def default_text(field):
    if field.required:
        return "required"
    default = field.load_default
    if default is missing:
        return "—"
    if callable(default):
        default = default()
    if default is None:
        return "null"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, (dict, list)):
        return "{}" if isinstance(default, dict) else "[]"
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def first_line(obj):
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0].rstrip(".") if doc else ""


def constraints(field):
    """What the validators allow, in words."""
    found = []
    for rule in field.validators:
        if isinstance(rule, validate.Range):
            found.append(f"{rule.min:g} to {rule.max:g}" if rule.min is not None and rule.max is not None
                         else f"at least {rule.min:g}" if rule.min is not None else f"at most {rule.max:g}")
        elif isinstance(rule, validate.OneOf):
            found.append("one of " + ", ".join(str(c) for c in rule.choices))
        elif isinstance(rule, validate.Length):
            unit = "items" if isinstance(field, fields.List) else "characters"
            found.append(f"{rule.min or 0} to {rule.max} {unit}" if rule.max else f"at least {rule.min} {unit}")
        elif isinstance(rule, validate.Regexp):
            # An error message that describes the values reads better than the expression.
            error = (rule.error or "").replace("{{", "{").replace("}}", "}")
            found.append(error if error and not error.startswith("not ") else f"matching {rule.regex.pattern}")
        elif first_line(rule) and not isinstance(rule, validate.Validator):
            found.append(first_line(rule)[0].lower() + first_line(rule)[1:])
    if isinstance(field, fields.Nested):
        nested = field.nested if isinstance(field.nested, type) else type(field.nested)
        found.append("{" + ", ".join(f'"{name}"' for name in nested._declared_fields) + "}")
    if json_type(field) == "custom" and first_line(type(field)):
        found.append(first_line(type(field)))
    if field.metadata.get("description"):
        found.append(field.metadata["description"])
    return "; ".join(found)


def literal(text):
    return nodes.literal(text=text) if text not in ("required", "—") else nodes.Text(text)


class SchemaFields(Directive):
    """A table of a marshmallow schema's fields: name, type, default, what is allowed."""

    required_arguments = 1
    option_spec = {"exclude": directives.unchanged}

    def run(self):
        module, _, name = self.arguments[0].rpartition(".")
        schema = getattr(import_module(module), name)
        exclude = {part.strip() for part in self.options.get("exclude", "").split(",") if part.strip()}
        table = nodes.table(classes=["schema-fields"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (18, 14, 14, 54):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self.row([nodes.Text(t) for t in ("Field", "Type", "Default", "Allowed")])
        body = nodes.tbody()
        group += body
        for field_name, field in schema._declared_fields.items():
            if field_name in exclude:
                continue
            body += self.row([nodes.literal(text=field_name), nodes.Text(json_type(field)),
                              literal(default_text(field)), nodes.Text(constraints(field))])
        return [table]

    @staticmethod
    def row(cells):
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", cell)
            row += entry
        return row


def pin_json_field_directions():
    """Read ``:<json`` as the request body and ``:>json`` as the response, as the views write them.

    That is sphinxcontrib-httpdomain 1.x's reading and the one STYLE.md asks for. httpdomain 2.x
    reversed the arrows (to match ``:>header``, a request header), which would label every
    response field of every view "Request JSON Object". ``:reqjson``/``:resjson`` mean the same
    in every version and are left alone; on httpdomain 1.x this changes nothing.
    """
    from sphinxcontrib.httpdomain import HTTPResource

    arrows = {"request": (">", "<"), "response": ("<", ">")}     # (wrong arrow, right arrow)
    for field in HTTPResource.doc_field_types:
        direction = next((d for d in arrows if field.name.startswith(d + "json")), None)
        if direction is None:
            continue
        wrong, right = arrows[direction]
        field.names = tuple(right + n[1:] if n.startswith(wrong) else n for n in field.names)
        field.typenames = tuple(right + n[1:] if n.startswith(wrong) else n for n in field.typenames)


def setup(app):
    app.setup_extension("sphinxcontrib.httpdomain")
    pin_json_field_directions()
    app.add_directive("schema-fields", SchemaFields)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
