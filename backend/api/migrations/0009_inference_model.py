"""The model file an inference serves, by its SHA-256 (what a rollout replaces)."""

from django.db import migrations, models


def served_at_launch(apps, schema_editor):
    """Inferences made before it serve their result's model."""
    Inference = apps.get_model("platform", "Inference")
    for inference in Inference.objects.select_related("result"):
        inference.model_sha256 = inference.result.model_sha256
        inference.save(update_fields=["model_sha256"])


class Migration(migrations.Migration):

    dependencies = [
        ("platform", "0008_deployment_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="inference",
            name="model_sha256",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunPython(served_at_launch, migrations.RunPython.noop),
    ]
