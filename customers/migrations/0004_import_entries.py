import json

import django.db.models.deletion
from django.db import migrations, models


def move_plans_to_entries(apps, schema_editor):
    """Move each record's JSON plan into ImportEntry rows, so that a preview made before
    this migration can still be confirmed."""
    ImportRecord = apps.get_model("customers", "ImportRecord")
    ImportEntry = apps.get_model("customers", "ImportEntry")
    for record in ImportRecord.objects.exclude(plan=[]).iterator():
        ImportEntry.objects.bulk_create(
            ImportEntry(
                record=record,
                position=position,
                entity=entry["entity"],
                action=entry.get("action", ""),
                row=entry.get("row"),
                key=str(entry.get("key") or "")[:255],
                target_id=entry.get("id"),
                version="" if entry.get("version") is None else str(entry["version"]),
                data=json.dumps(entry, separators=(",", ":")),
            )
            for position, entry in enumerate(record.plan)
        )


def move_entries_to_plans(apps, schema_editor):
    ImportRecord = apps.get_model("customers", "ImportRecord")
    ImportEntry = apps.get_model("customers", "ImportEntry")
    for record in ImportRecord.objects.filter(pk__in=ImportEntry.objects.values("record")).iterator():
        data = ImportEntry.objects.filter(record=record).order_by("position").values_list("data", flat=True)
        record.plan = [json.loads(item) for item in data]
        record.save(update_fields=["plan"])


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0003_import_workflow_fields'),
    ]

    operations = [
        migrations.AddField(
            model_name='importrecord',
            name='plan_summary',
            field=models.JSONField(blank=True, default=dict, verbose_name='plan summary'),
        ),
        migrations.CreateModel(
            name='ImportEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField()),
                ('entity', models.CharField(max_length=16)),
                ('action', models.CharField(blank=True, max_length=16)),
                ('row', models.PositiveIntegerField(null=True)),
                ('key', models.CharField(blank=True, max_length=255)),
                ('target_id', models.BigIntegerField(null=True)),
                ('version', models.CharField(blank=True, max_length=64)),
                ('data', models.TextField()),
                ('record', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='entries', to='customers.importrecord')),
            ],
            options={
                'indexes': [models.Index(fields=['record', 'entity', 'position'], name='import_entry_entity_idx')],
            },
        ),
        migrations.RunPython(move_plans_to_entries, move_entries_to_plans),
        migrations.RemoveField(
            model_name='importrecord',
            name='plan',
        ),
    ]
