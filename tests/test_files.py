from __future__ import annotations

import jinja2

from extract.files import jinja_environment


def test_kept_compiled_templates_are_keyed_by_the_environment_options() -> None:
    """The compiled code of a template depends on the options too (trim_blocks here): two
    environments with one template source but other options never share it, across runs."""
    source = {"t.j2": "{% if x %}\nyes\n{% endif %}\nend"}
    for _ in range(2):  # the second round reads what the first one kept
        plain = jinja_environment(jinja2.DictLoader(source)).get_template("t.j2").render(x=True)
        trimmed = jinja_environment(jinja2.DictLoader(source), trim_blocks=True).get_template("t.j2").render(x=True)
        assert (plain, trimmed) == ("\nyes\n\nend", "yes\nend")
