from django import template
from django.utils.html import format_html, format_html_join

register = template.Library()


@register.filter
def answer_html(answer) -> str:
    """An answer as the requester reads it: a multi-label list as tags (never Python's
    "['person', 'car']"), none as a dash, text as text, escaped."""
    if isinstance(answer, list):
        if not answer:
            return format_html('<span class="tag tag-none">{}</span>', "∅")
        return format_html_join(" ", '<span class="tag">{}</span>', ((label,) for label in answer))
    if answer is None or answer == "":
        return "\u2013"  # an en dash, as the page shows for no answer
    return format_html("{}", answer)
