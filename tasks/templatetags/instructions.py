from django import template
from django.utils.safestring import mark_safe

from tasks.markdown import render_instructions

register = template.Library()


@register.filter
def instructions_html(text: str) -> str:
    # Safe to mark: render_instructions sanitises with an allow-list.
    return mark_safe(render_instructions(text))  # noqa: S308
