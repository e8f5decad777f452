from django import template

from payouts.connect_onboarding import Onboarding, onboarding_state

register = template.Library()


@register.simple_tag
def connect_onboarding(worker, destination) -> Onboarding:
    """The worker's Stripe Connect state for the earnings page's onboarding block."""
    return onboarding_state(worker, destination)
