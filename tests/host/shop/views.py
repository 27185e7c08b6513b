from django.shortcuts import render

from shop.models import Book


def catalogue(request):
    return render(request, "shop/catalogue.html", {"books": Book.objects.select_related("author")})
