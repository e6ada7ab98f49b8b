"""The default campaign, its templates, and publishing campaign versions."""

import pytest
from django.core.management import call_command

from campaigns.campaign_services import (
    CampaignVersionError,
    campaign_version_copy_to_draft,
    campaign_version_publish,
)
from campaigns.defaults import DEFAULT_CAMPAIGN_NAME, DEFAULT_TEMPLATES, ensure_default_campaign
from campaigns.models import Campaign, CampaignStep, CampaignVersion, Channel, MessageTemplate, ToneTier

pytestmark = pytest.mark.django_db

STEP_KEYS = ["courtesy-reminder", "friendly-note", "firm-reminder", "final-notice"]
ALL_KEYS = [*STEP_KEYS, "thank-you"]


def test_default_campaign_settings():
    campaign = ensure_default_campaign()

    assert campaign.name == DEFAULT_CAMPAIGN_NAME == "Standard reminders"
    assert campaign.entry_tier == ToneTier.FRIENDLY
    assert campaign.min_days_between_messages == 5
    assert campaign.is_active


def test_default_campaign_published_steps():
    campaign = ensure_default_campaign()

    version = campaign.versions.get()
    assert version.number == 1
    assert version.status == CampaignVersion.Status.PUBLISHED
    assert version.published_at is not None
    steps = list(version.steps.order_by("offset_days").values_list("offset_days", "tier", "channel", "template_key"))
    assert steps == [
        (-3, ToneTier.COURTESY, Channel.EMAIL, "courtesy-reminder"),
        (0, ToneTier.FRIENDLY, Channel.EMAIL, "friendly-note"),
        (7, ToneTier.FIRM, Channel.EMAIL, "firm-reminder"),
        (21, ToneTier.FINAL, Channel.EMAIL, "final-notice"),
    ]


@pytest.mark.parametrize("language", ["en", "fr", "de", "es", "nl"])
@pytest.mark.parametrize("key", ALL_KEYS)
def test_default_templates_exist(key, language):
    ensure_default_campaign()

    template = MessageTemplate.objects.get(key=key, channel=Channel.EMAIL, language=language)
    assert "{{ customer_name }}" in template.subject
    assert "{{ customer_name }}" in template.body_text
    assert template.body_html.startswith("<p>")


def test_default_templates_cover_every_step_key():
    campaign = ensure_default_campaign()

    step_keys = set(CampaignStep.objects.filter(version__campaign=campaign).values_list("template_key", flat=True))
    assert step_keys == set(STEP_KEYS)
    assert set(DEFAULT_TEMPLATES) == set(ALL_KEYS)


def test_default_templates_pass_validation():
    rendering = pytest.importorskip("campaigns.rendering")
    ensure_default_campaign()

    for template in MessageTemplate.objects.all():
        for field in ("subject", "body_text", "body_html"):
            errors = rendering.validate_template_source(getattr(template, field))
            assert errors == [], f"{template} {field}: {errors}"


def test_default_templates_render_each_tier():
    rendering = pytest.importorskip("campaigns.rendering")
    ensure_default_campaign()
    context = {
        "customer_name": "O'Brien & Sons",
        "invoice_number": "INV-7",
        "amount_due": "£1,234.50",
        "due_date": "1 December 2026",
        "days_overdue": 12,
        "days_until_due": 0,
        "payment_link": "https://pay.example/inv-7",
        "business_name": "Northwind Supplies",
        "payment_amount": "£1,234.50",
        "payment_date": "3 December 2026",
    }

    for template in MessageTemplate.objects.filter(language="en"):
        subject = rendering.render_text(template.subject, context)
        text = rendering.render_text(template.body_text, context)
        html = rendering.render_html(template.body_html, context)
        assert "O'Brien & Sons" in subject
        assert "O'Brien & Sons" in text
        assert "O&#x27;Brien &amp; Sons" in html
        assert "{{" not in text
        assert "{%" not in text


def test_friendly_note_due_today_wording():
    rendering = pytest.importorskip("campaigns.rendering")
    ensure_default_campaign()
    template = MessageTemplate.objects.get(key="friendly-note", language="en")
    base = {"customer_name": "Ada", "invoice_number": "INV-1", "amount_due": "£10.00", "due_date": "today",
            "days_until_due": 0, "payment_link": "", "business_name": "Northwind", "payment_amount": "", "payment_date": ""}

    due_today = rendering.render_text(template.body_text, {**base, "days_overdue": 0})
    overdue = rendering.render_text(template.body_text, {**base, "days_overdue": 4})

    assert "is due today" in due_today
    assert "was due on" in overdue
    # Without a payment link, the sentence that offers it is left out.
    assert "pay it online" not in overdue


def test_default_templates_cover_message_languages(settings):
    ensure_default_campaign()

    for key in ALL_KEYS:
        languages = set(MessageTemplate.objects.filter(key=key).values_list("language", flat=True))
        assert set(settings.DUNNING_MESSAGE_LANGUAGES) <= languages, key


def test_ensure_default_campaign_idempotent():
    first = ensure_default_campaign()
    counts = (Campaign.objects.count(), CampaignVersion.objects.count(), CampaignStep.objects.count(), MessageTemplate.objects.count())

    second = ensure_default_campaign()

    assert second.pk == first.pk
    assert (Campaign.objects.count(), CampaignVersion.objects.count(), CampaignStep.objects.count(), MessageTemplate.objects.count()) == counts
    assert counts == (1, 1, 4, 25)


def test_ensure_default_campaign_keeps_staff_edits():
    campaign = ensure_default_campaign()
    template = MessageTemplate.objects.get(key="firm-reminder", language="en")
    template.subject = "Edited by staff: {{ invoice_number }}"
    template.save()
    Campaign.objects.filter(pk=campaign.pk).update(min_days_between_messages=9)

    ensure_default_campaign()

    template.refresh_from_db()
    campaign.refresh_from_db()
    assert template.subject == "Edited by staff: {{ invoice_number }}"
    assert campaign.min_days_between_messages == 9


def test_ensure_default_campaign_command(capsys):
    call_command("ensure_default_campaign")
    call_command("ensure_default_campaign")

    assert Campaign.objects.filter(name=DEFAULT_CAMPAIGN_NAME).count() == 1
    assert "published version 1" in capsys.readouterr().out


def test_publish_retires_previous_version():
    campaign = ensure_default_campaign()
    version_1 = campaign.versions.get()
    draft = campaign_version_copy_to_draft(version=version_1)

    campaign_version_publish(version=draft)

    version_1.refresh_from_db()
    draft.refresh_from_db()
    assert draft.number == 2
    assert draft.status == CampaignVersion.Status.PUBLISHED
    assert version_1.status == CampaignVersion.Status.RETIRED
    assert draft.steps.count() == 4


def test_copy_to_draft_copies_steps_not_links():
    campaign = ensure_default_campaign()
    version_1 = campaign.versions.get()

    draft = campaign_version_copy_to_draft(version=version_1)

    assert draft.status == CampaignVersion.Status.DRAFT
    assert list(draft.steps.values_list("offset_days", "tier", "template_key")) == list(
        version_1.steps.values_list("offset_days", "tier", "template_key")
    )
    assert not set(draft.steps.values_list("pk", flat=True)) & set(version_1.steps.values_list("pk", flat=True))


def test_publish_rejects_published_version():
    campaign = ensure_default_campaign()

    with pytest.raises(CampaignVersionError, match="not a draft"):
        campaign_version_publish(version=campaign.versions.get())


def test_publish_rejects_empty_draft():
    campaign = ensure_default_campaign()
    empty = CampaignVersion.objects.create(campaign=campaign, number=2, status=CampaignVersion.Status.DRAFT)

    with pytest.raises(CampaignVersionError, match="no steps"):
        campaign_version_publish(version=empty)

    assert campaign.versions.get(number=1).status == CampaignVersion.Status.PUBLISHED
