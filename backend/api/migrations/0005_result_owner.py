"""The deployment's owner kept on each training result, with an (owner, id) index: the results list
counts and pages a user's results by that index alone."""

from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_owners(apps, schema_editor):
    results, deployments = apps.get_model("platform", "TrainingResult"), apps.get_model("platform", "Deployment")
    results.objects.update(owner=Subquery(deployments.objects.filter(pk=OuterRef("deployment")).values("owner")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("platform", "0004_job_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingresult",
            name="owner",
            field=models.ForeignKey(null=True, on_delete=models.deletion.CASCADE, related_name="+",
                                    to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(copy_owners, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="trainingresult",
            name="owner",
            field=models.ForeignKey(on_delete=models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name="trainingresult",
            index=models.Index(fields=["owner", "id"], name="platform_tr_owner_i_44bdf5_idx"),
        ),
    ]
