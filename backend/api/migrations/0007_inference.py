"""Inference deployments: a finished training's model served on Kafka topics by a long-running worker."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('platform', '0006_round_privacy'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Inference',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('replicas', models.PositiveSmallIntegerField()),
                ('input_format', models.CharField(max_length=10)),
                ('input_config', models.JSONField()),
                ('input_topic', models.CharField(max_length=249)),
                ('output_topic', models.CharField(max_length=249)),
                ('error_topic', models.CharField(max_length=249)),
                ('bootstrap_servers', models.CharField(max_length=1000)),
                ('batch', models.IntegerField(null=True)),
                ('status', models.CharField(choices=[('created', 'Created'), ('running', 'Running'), ('stopped', 'Stopped'), ('failed', 'Failed')], default='created', max_length=10)),
                ('error', models.TextField(blank=True, default='')),
                ('token_sha256', models.CharField(blank=True, default='', max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('stopped_at', models.DateTimeField(null=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='inferences', to=settings.AUTH_USER_MODEL)),
                ('result', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='inferences', to='platform.trainingresult')),
            ],
            options={
                'ordering': ['-id'],
                'indexes': [models.Index(fields=['status'], name='platform_in_status_604ea3_idx'), models.Index(fields=['owner', 'id'], name='platform_in_owner_i_279f53_idx')],
            },
        ),
    ]
