"""One name per token class: UsageLog's cache columns take the names UsageDaily and
Session already use (a rename; on PostgreSQL, a catalog change only). The API keeps
the provider's names, cache_creation_input_tokens and cache_read_input_tokens."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("usage", "0004_usage_log_api_key")]

    operations = [
        migrations.RenameField("usagelog", "cache_creation_input_tokens", "cache_write_tokens"),
        migrations.RenameField("usagelog", "cache_read_input_tokens", "cache_read_tokens"),
    ]
