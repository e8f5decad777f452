"""The impact-sourcing eligibility facts a worker may declare and an admin checks.

Modelled on the Global Impact Sourcing Coalition's definition of people with
limited prospects of formal employment. docs/eligibility.md documents each one.
"""

from django.utils.translation import gettext_lazy as _

ELIGIBILITY_CHOICES = [
    ("below_poverty_line", _("Household income below the national poverty line")),
    ("long_term_unemployed", _("Unemployed for six months or more")),
    ("first_formal_job", _("Has never held a formal job")),
    ("neet_youth", _("Aged 18-29 and not in education, employment or training")),
    ("rural_resident", _("Lives in a rural area or informal settlement")),
    ("incomplete_secondary", _("Did not complete secondary school")),
    ("disability", _("Lives with a disability")),
    ("refugee_or_displaced", _("Refugee or internally displaced person")),
    ("minority_group", _("Member of a marginalised ethnic or social group")),
    ("sole_caregiver", _("Sole earner or caregiver for a household")),
]
