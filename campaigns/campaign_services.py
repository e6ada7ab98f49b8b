"""Writes to campaigns and their versions: publishing a draft and starting a new draft.

Invoices stay pinned to the version that sent their first message, so a published
version's steps are never edited in place: staff copy it to a draft, edit the draft and
publish that.
"""

from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignStep, CampaignVersion


class CampaignVersionError(ValueError):
    pass


@transaction.atomic
def campaign_version_publish(*, version: CampaignVersion) -> CampaignVersion:
    """Publish a draft version and retire the version that was published before it.

    Raises CampaignVersionError when the version is not a draft or has no steps.
    """
    # Lock the campaign row so that two staff publishing at once cannot both pass the
    # checks below. The partial unique constraint on published versions backs this up.
    Campaign.objects.select_for_update().get(pk=version.campaign_id)
    version = CampaignVersion.objects.get(pk=version.pk)

    if version.status != CampaignVersion.Status.DRAFT:
        raise CampaignVersionError(
            f"{version} is {version.get_status_display().lower()}, not a draft; "
            "copy it to a new draft and publish that instead"
        )
    if not version.steps.exists():
        raise CampaignVersionError(f"{version} has no steps; add at least one step before publishing it")

    # Retire first: the database allows one published version per campaign at a time.
    CampaignVersion.objects.filter(
        campaign_id=version.campaign_id, status=CampaignVersion.Status.PUBLISHED
    ).update(status=CampaignVersion.Status.RETIRED)
    version.status = CampaignVersion.Status.PUBLISHED
    version.published_at = timezone.now()
    version.save(update_fields=["status", "published_at"])
    return version


@transaction.atomic
def campaign_version_copy_to_draft(*, version: CampaignVersion) -> CampaignVersion:
    """Create a new draft version of the campaign with a copy of `version`'s steps."""
    campaign = Campaign.objects.select_for_update().get(pk=version.campaign_id)
    last_number = campaign.versions.order_by("-number").values_list("number", flat=True).first() or 0
    draft = CampaignVersion.objects.create(
        campaign=campaign, number=last_number + 1, status=CampaignVersion.Status.DRAFT
    )
    CampaignStep.objects.bulk_create(
        CampaignStep(
            version=draft,
            offset_days=step.offset_days,
            tier=step.tier,
            channel=step.channel,
            template_key=step.template_key,
        )
        for step in version.steps.all()
    )
    return draft
