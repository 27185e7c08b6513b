from django.contrib import admin

from shop.models import Author, Book, Order, OrderLine


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["name", "born"]
    search_fields = ["name"]


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "price", "stock"]
    list_filter = ["author"]
    search_fields = ["title", "isbn"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["pk", "customer_email", "status", "created_at"]
    list_filter = ["status"]
    inlines = [OrderLineInline]
