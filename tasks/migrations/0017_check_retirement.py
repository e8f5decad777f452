from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("tasks", "0016_work_claim_gold_branch")]

    operations = []
