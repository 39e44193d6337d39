from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("usage", "0005_token_class_names")]

    operations = [
        migrations.AddField(
            model_name="usagelogbody",
            name="dropped",
            field=models.BooleanField(default=False),
        ),
    ]
