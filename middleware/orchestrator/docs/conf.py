"""Sphinx configuration of Orchestrator's documentation.

Build it with ``./make_mw_docs.sh`` from ``middleware/orchestrator``: the script captures the
live examples into ``examples/`` first, then runs Sphinx with warnings as errors.
"""
import json
import os
import sys

from sphinx.errors import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
# docs_app and the local extension, then the dispatcher package itself (when not installed).
sys.path[:0] = [HERE, os.path.join(HERE, "_ext"), os.path.dirname(HERE)]

project = "Orchestrator"
author = "the Orchestrator authors"
copyright = "the Orchestrator authors"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinxcontrib.httpdomain",
    "sphinxcontrib.autohttp.flask",
    "sphinxcontrib.autohttp.flaskqref",
    "orchestrator_docs",
]

exclude_patterns = ["_build", "_ext", "examples", "examples_src"]
html_theme = "alabaster"
html_theme_options = {"description": "cloud orchestration middleware", "fixed_sidebar": True}
highlight_language = "none"

autodoc_member_order = "bysource"
autodoc_typehints = "none"
http_index_shortname = "routes"
http_index_localname = "HTTP routing table"

# The live examples, and the port they were captured on, come together from make_mw_docs.sh.
CAPTURE = os.path.join(HERE, "examples", "capture.json")
if not os.path.isfile(CAPTURE):
    raise ConfigError("docs/examples/ holds no captured examples: build the documentation with "
                      "./make_mw_docs.sh, which captures them from a live server first")
with open(CAPTURE) as stream:
    capture = json.load(stream)

rst_epilog = f"""
.. |docs_port| replace:: {capture["port"]}
.. |captured_at| replace:: {capture["captured_at"]}
"""
