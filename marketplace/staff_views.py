"""The staff home: one page that links every staff tool, reached from the header."""

from django.shortcuts import render

from marketplace.permissions import staff_required


@staff_required
def staff_home(request):
    return render(request, "marketplace/staff_home.html")
