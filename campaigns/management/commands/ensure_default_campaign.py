from django.core.management.base import BaseCommand

from campaigns.defaults import DEFAULT_TEMPLATES, ensure_default_campaign
from campaigns.models import CampaignVersion


class Command(BaseCommand):
    help = (
        'Create the default campaign "Standard reminders", its published version and its '
        "message templates where they are missing. Existing rows are left as staff edited them."
    )

    def handle(self, *args, **options):
        campaign = ensure_default_campaign()
        published = campaign.versions.filter(status=CampaignVersion.Status.PUBLISHED).first()
        template_count = sum(len(languages) for languages in DEFAULT_TEMPLATES.values())
        self.stdout.write(
            f'Campaign "{campaign.name}": published version '
            f"{published.number if published else 'none'}; "
            f"{template_count} default templates present or kept as edited."
        )
