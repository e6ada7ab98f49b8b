"""An anymail backend that writes each message to an .eml file instead of calling an ESP.

Used in development and the demo, so that the whole delivery path runs, anymail_status
and message ids included, without an ESP account. Nothing is kept in memory: every
message is one file under DUNNING_OUTBOX_DIR named by its message id.
"""

import uuid
from pathlib import Path

from anymail.backends.base import AnymailBaseBackend
from anymail.backends.test import TestPayload
from anymail.message import AnymailRecipientStatus
from django.conf import settings


class OutboxEmailBackend(AnymailBaseBackend):
    esp_name = "Outbox"

    def build_message_payload(self, message, defaults):
        # The test payload records every attribute anymail parsed, which is all a file needs.
        return TestPayload(backend=self, message=message, defaults=defaults)

    def post_to_esp(self, payload, message):
        message_id = str(uuid.uuid4())
        outbox = Path(settings.DUNNING_OUTBOX_DIR)
        outbox.mkdir(parents=True, exist_ok=True)

        message.extra_headers = {
            **message.extra_headers,
            "Message-ID": f"<{message_id}@outbox.invalid>",
        }
        for name, value in (getattr(message, "metadata", None) or {}).items():
            message.extra_headers[f"X-Metadata-{name}"] = str(value)
        temporary = outbox / f".{message_id}.eml.partial"
        temporary.write_bytes(message.message().as_bytes(linesep="\r\n"))
        # A rename is atomic, so a reader never sees half a message.
        temporary.rename(outbox / f"{message_id}.eml")

        status = AnymailRecipientStatus(message_id=message_id, status="sent")
        return {email: status for email in payload.recipient_emails}

    def parse_recipient_status(self, response, payload, message):
        return response
