"""Build hooks for the documentation site (mkdocs.yml); not copied into the site.

- ``on_page_markdown``: GitHub needs a pipe inside a code span in a table cell escaped (``\\|``) and drops the
  backslash; Python-Markdown keeps it, but needs no escape there (a pipe inside backticks never splits a
  cell). So in table rows the escape inside code spans is removed: the pages read the same on GitHub and in
  the site.
- ``ExampleSections`` (a Griffe extension, named in the mkdocstrings options): mfcomm's docstrings head their
  doctests with a NumPy-style ``Example`` section; Griffe's NumPy parser knows only the plural
  ``Examples``, so the heading is renamed before parsing and the doctests render as code blocks. Sphinx
  roles such as ``:class:`~mfcomm.errors.ChannelError``` become code spans (``ChannelError``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_EXAMPLE_HEADING = re.compile(r"^([ \t]*)Example\n\1-+[ \t]*$", re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|meth|attr|exc|obj|const):`(~?)([^`]+)`")


def _role_to_code(match: re.Match) -> str:
    target = match.group(2)
    return "`" + (target.rsplit(".", 1)[-1] if match.group(1) else target) + "`"


def _unescape_pipes(match: re.Match) -> str:
    return match.group(1) + match.group(2).replace("\\|", "|") + match.group(1)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    lines = markdown.split("\n")
    fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and line.lstrip().startswith("|"):
            lines[i] = _CODE_SPAN.sub(_unescape_pipes, line)
    return "\n".join(lines)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _EXAMPLE_HEADING.sub(r"\1Examples\n\1--------", obj.docstring.value)
            obj.docstring.value = _ROLE.sub(_role_to_code, text)
