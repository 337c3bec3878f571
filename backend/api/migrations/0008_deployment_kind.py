"""A deployment's kind: federated (every deployment before), single or incremental."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("platform", "0007_inference"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="kind",
            field=models.CharField(choices=[("federated", "Federated"), ("single", "Single"),
                                            ("incremental", "Incremental")], default="federated", max_length=20),
        ),
    ]
