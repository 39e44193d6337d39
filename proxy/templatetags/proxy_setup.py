"""`{% setup_snippet endpoint "curl" %}`: one ready-to-paste client setup, for pages of other apps.

The dashboard's first-call walkthrough shows two of the Settings page's snippets; a
template tag lets it do so without the usage app importing the proxy app's code.
"""

from django import template

from proxy.snippets import setup_snippets

register = template.Library()


@register.simple_tag(takes_context=True)
def setup_snippet(context, endpoint, key: str) -> str:
    url = endpoint.base_url(context.get("request"))
    return next(s["code"] for s in setup_snippets(url, endpoint.require_key) if s["key"] == key)
