from django.apps import AppConfig


class DemoShopConfig(AppConfig):
    """The demo's sample data (`make demo`): a small bookshop the offline model works on."""

    name = "config.demo_shop"
    label = "demo_shop"
    verbose_name = "Demo bookshop"
