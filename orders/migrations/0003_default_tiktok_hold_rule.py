"""TikTok lets buyers edit an order during its first hour: hold TikTok orders 60 minutes from order time."""
from django.db import migrations

NAME = "TikTok 60-minute edit window"


def create(apps, schema_editor):
    HoldRule = apps.get_model("orders", "HoldRule")
    HoldRule.objects.get_or_create(name=NAME, defaults={"connector": "tiktok", "minutes": 60, "clock": "order_time",
                                                        "next_status": "readyForFulfillment", "priority": 1000})


def remove(apps, schema_editor):
    apps.get_model("orders", "HoldRule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_operations")]
    operations = [migrations.RunPython(create, remove)]
