"""Central differential privacy's account per round (ε at δ, the noise settings and seed)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("platform", "0005_result_owner"),
    ]

    operations = [
        migrations.AddField(
            model_name="roundrecord",
            name="privacy",
            field=models.JSONField(null=True),
        ),
    ]
