"""The default campaign, "Standard reminders", and the message templates it uses.

Templates use only the variables that `campaigns.rendering` documents (customer_name,
invoice_number, amount_due, due_date, days_overdue, days_until_due, payment_link,
business_name, payment_amount, payment_date) and no tag other than `{% if %}`.
`amount_due`, `payment_amount` and the dates arrive already formatted for the customer's
locale; `days_overdue` is a whole number. Every template exists in English, French, German,
Spanish and Dutch, the default DUNNING_MESSAGE_LANGUAGES.
"""

from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignStep, CampaignVersion, Channel, MessageTemplate, ToneTier

DEFAULT_CAMPAIGN_NAME = "Standard reminders"

# (offset in days from the due date, tone tier, template key), all sent by email.
DEFAULT_STEPS = [
    (-3, ToneTier.COURTESY, "courtesy-reminder"),
    (0, ToneTier.FRIENDLY, "friendly-note"),
    (7, ToneTier.FIRM, "firm-reminder"),
    (21, ToneTier.FINAL, "final-notice"),
]

THANK_YOU_KEY = "thank-you"

# key -> language -> (subject, text body, HTML body)
DEFAULT_TEMPLATES = {
    "courtesy-reminder": {
        "en": (
            "{{ customer_name }}, a quick reminder about invoice {{ invoice_number }}",
            """Hello {{ customer_name }},

Just a friendly heads-up: invoice {{ invoice_number }} for {{ amount_due }} is due on {{ due_date }}.
{% if payment_link %}
You can pay it online in a minute: {{ payment_link }}
{% endif %}
If you have already arranged payment, thank you, and please ignore this note. If anything about the invoice looks wrong, just reply and we will sort it out.

Kind regards,
The accounts team at {{ business_name }}
""",
            """<p>Hello {{ customer_name }},</p>
<p>Just a friendly heads-up: invoice <strong>{{ invoice_number }}</strong> for <strong>{{ amount_due }}</strong> is due on {{ due_date }}.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Pay invoice {{ invoice_number }} online</a></p>{% endif %}
<p>If you have already arranged payment, thank you, and please ignore this note. If anything about the invoice looks wrong, just reply and we will sort it out.</p>
<p>Kind regards,<br>The accounts team at {{ business_name }}</p>
""",
        ),
        "fr": (
            "{{ customer_name }}, un petit rappel pour la facture {{ invoice_number }}",
            """Bonjour {{ customer_name }},

Un petit rappel amical : la facture {{ invoice_number }} d'un montant de {{ amount_due }} arrive à échéance le {{ due_date }}.
{% if payment_link %}
Vous pouvez la régler en ligne en une minute : {{ payment_link }}
{% endif %}
Si le règlement est déjà en cours, merci beaucoup, et ne tenez pas compte de ce message. Si quelque chose vous semble inexact, répondez simplement à ce message et nous corrigerons.

Bien cordialement,
Le service comptabilité de {{ business_name }}
""",
            """<p>Bonjour {{ customer_name }},</p>
<p>Un petit rappel amical : la facture <strong>{{ invoice_number }}</strong> d'un montant de <strong>{{ amount_due }}</strong> arrive à échéance le {{ due_date }}.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Régler la facture {{ invoice_number }} en ligne</a></p>{% endif %}
<p>Si le règlement est déjà en cours, merci beaucoup, et ne tenez pas compte de ce message. Si quelque chose vous semble inexact, répondez simplement à ce message et nous corrigerons.</p>
<p>Bien cordialement,<br>Le service comptabilité de {{ business_name }}</p>
""",
        ),
        "de": (
            "{{ customer_name }}, eine kurze Erinnerung an Rechnung {{ invoice_number }}",
            """Guten Tag {{ customer_name }},

eine kurze, freundliche Erinnerung: Die Rechnung {{ invoice_number }} über {{ amount_due }} ist am {{ due_date }} fällig.
{% if payment_link %}
Sie können sie bequem online bezahlen: {{ payment_link }}
{% endif %}
Wenn Sie die Zahlung bereits veranlasst haben, vielen Dank, dann betrachten Sie diese Nachricht bitte als gegenstandslos. Falls an der Rechnung etwas nicht stimmt, antworten Sie einfach auf diese E-Mail.

Mit freundlichen Grüßen
Ihre Buchhaltung von {{ business_name }}
""",
            """<p>Guten Tag {{ customer_name }},</p>
<p>eine kurze, freundliche Erinnerung: Die Rechnung <strong>{{ invoice_number }}</strong> über <strong>{{ amount_due }}</strong> ist am {{ due_date }} fällig.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Rechnung {{ invoice_number }} online bezahlen</a></p>{% endif %}
<p>Wenn Sie die Zahlung bereits veranlasst haben, vielen Dank, dann betrachten Sie diese Nachricht bitte als gegenstandslos. Falls an der Rechnung etwas nicht stimmt, antworten Sie einfach auf diese E-Mail.</p>
<p>Mit freundlichen Grüßen<br>Ihre Buchhaltung von {{ business_name }}</p>
""",
        ),
        "nl": (
            "{{ customer_name }}, een korte herinnering aan factuur {{ invoice_number }}",
            """Beste {{ customer_name }},

Een korte, vriendelijke herinnering: factuur {{ invoice_number }} van {{ amount_due }} vervalt op {{ due_date }}.
{% if payment_link %}
U kunt de factuur eenvoudig online betalen: {{ payment_link }}
{% endif %}
Heeft u de betaling al geregeld, dan danken wij u hartelijk en kunt u dit bericht negeren. Klopt er iets niet aan de factuur, antwoord dan gewoon op deze e-mail.

Met vriendelijke groet,
De financiële administratie van {{ business_name }}
""",
            """<p>Beste {{ customer_name }},</p>
<p>Een korte, vriendelijke herinnering: factuur <strong>{{ invoice_number }}</strong> van <strong>{{ amount_due }}</strong> vervalt op {{ due_date }}.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Factuur {{ invoice_number }} online betalen</a></p>{% endif %}
<p>Heeft u de betaling al geregeld, dan danken wij u hartelijk en kunt u dit bericht negeren. Klopt er iets niet aan de factuur, antwoord dan gewoon op deze e-mail.</p>
<p>Met vriendelijke groet,<br>De financiële administratie van {{ business_name }}</p>
""",
        ),
        "es": (
            "{{ customer_name }}, un breve recordatorio sobre la factura {{ invoice_number }}",
            """Hola, {{ customer_name }}:

Le escribimos solo para recordarle que la factura {{ invoice_number }} por importe de {{ amount_due }} vence el {{ due_date }}.
{% if payment_link %}
Puede pagarla en línea en un minuto: {{ payment_link }}
{% endif %}
Si ya ha gestionado el pago, muchas gracias y no tenga en cuenta este mensaje. Si algo de la factura no le parece correcto, responda a este correo y lo revisaremos.

Un saludo cordial,
El equipo de contabilidad de {{ business_name }}
""",
            """<p>Hola, {{ customer_name }}:</p>
<p>Le escribimos solo para recordarle que la factura <strong>{{ invoice_number }}</strong> por importe de <strong>{{ amount_due }}</strong> vence el {{ due_date }}.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Pagar la factura {{ invoice_number }} en línea</a></p>{% endif %}
<p>Si ya ha gestionado el pago, muchas gracias y no tenga en cuenta este mensaje. Si algo de la factura no le parece correcto, responda a este correo y lo revisaremos.</p>
<p>Un saludo cordial,<br>El equipo de contabilidad de {{ business_name }}</p>
""",
        ),
    },
    "friendly-note": {
        "en": (
            "{{ customer_name }}, invoice {{ invoice_number }} is {% if days_overdue > 0 %}now past its due date{% else %}due today{% endif %}",
            """Hello {{ customer_name }},

{% if days_overdue > 0 %}Invoice {{ invoice_number }} for {{ amount_due }} was due on {{ due_date }}, and we have not received payment yet.{% else %}Invoice {{ invoice_number }} for {{ amount_due }} is due today, {{ due_date }}.{% endif %} These things slip through easily, so we thought a short note would help.
{% if payment_link %}
You can pay it online here: {{ payment_link }}
{% endif %}
If you have already paid, thank you, and our apologies for the reminder. If there is a question about the invoice, reply to this email and we will be glad to help.

Kind regards,
The accounts team at {{ business_name }}
""",
            """<p>Hello {{ customer_name }},</p>
<p>{% if days_overdue > 0 %}Invoice <strong>{{ invoice_number }}</strong> for <strong>{{ amount_due }}</strong> was due on {{ due_date }}, and we have not received payment yet.{% else %}Invoice <strong>{{ invoice_number }}</strong> for <strong>{{ amount_due }}</strong> is due today, {{ due_date }}.{% endif %} These things slip through easily, so we thought a short note would help.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Pay invoice {{ invoice_number }} online</a></p>{% endif %}
<p>If you have already paid, thank you, and our apologies for the reminder. If there is a question about the invoice, reply to this email and we will be glad to help.</p>
<p>Kind regards,<br>The accounts team at {{ business_name }}</p>
""",
        ),
        "fr": (
            "{{ customer_name }}, la facture {{ invoice_number }} {% if days_overdue > 0 %}est arrivée à échéance{% else %}arrive à échéance aujourd'hui{% endif %}",
            """Bonjour {{ customer_name }},

{% if days_overdue > 0 %}La facture {{ invoice_number }} d'un montant de {{ amount_due }} était due le {{ due_date }} et nous n'avons pas encore reçu son règlement.{% else %}La facture {{ invoice_number }} d'un montant de {{ amount_due }} arrive à échéance aujourd'hui, le {{ due_date }}.{% endif %} Ce genre de chose arrive facilement, alors nous préférons vous envoyer un petit mot.
{% if payment_link %}
Vous pouvez la régler en ligne ici : {{ payment_link }}
{% endif %}
Si vous avez déjà payé, merci, et veuillez nous excuser pour ce rappel. Pour toute question sur la facture, répondez à ce message : nous vous aiderons volontiers.

Bien cordialement,
Le service comptabilité de {{ business_name }}
""",
            """<p>Bonjour {{ customer_name }},</p>
<p>{% if days_overdue > 0 %}La facture <strong>{{ invoice_number }}</strong> d'un montant de <strong>{{ amount_due }}</strong> était due le {{ due_date }} et nous n'avons pas encore reçu son règlement.{% else %}La facture <strong>{{ invoice_number }}</strong> d'un montant de <strong>{{ amount_due }}</strong> arrive à échéance aujourd'hui, le {{ due_date }}.{% endif %} Ce genre de chose arrive facilement, alors nous préférons vous envoyer un petit mot.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Régler la facture {{ invoice_number }} en ligne</a></p>{% endif %}
<p>Si vous avez déjà payé, merci, et veuillez nous excuser pour ce rappel. Pour toute question sur la facture, répondez à ce message : nous vous aiderons volontiers.</p>
<p>Bien cordialement,<br>Le service comptabilité de {{ business_name }}</p>
""",
        ),
        "de": (
            "{{ customer_name }}, Rechnung {{ invoice_number }} ist {% if days_overdue > 0 %}inzwischen fällig{% else %}heute fällig{% endif %}",
            """Guten Tag {{ customer_name }},

{% if days_overdue > 0 %}die Rechnung {{ invoice_number }} über {{ amount_due }} war am {{ due_date }} fällig, und wir haben noch keine Zahlung erhalten.{% else %}die Rechnung {{ invoice_number }} über {{ amount_due }} ist heute, am {{ due_date }}, fällig.{% endif %} So etwas geht im Alltag leicht unter, deshalb diese kurze Nachricht.
{% if payment_link %}
Hier können Sie online bezahlen: {{ payment_link }}
{% endif %}
Wenn Sie bereits bezahlt haben, vielen Dank, und entschuldigen Sie die Erinnerung. Bei Fragen zur Rechnung antworten Sie einfach auf diese E-Mail, wir helfen gern.

Mit freundlichen Grüßen
Ihre Buchhaltung von {{ business_name }}
""",
            """<p>Guten Tag {{ customer_name }},</p>
<p>{% if days_overdue > 0 %}die Rechnung <strong>{{ invoice_number }}</strong> über <strong>{{ amount_due }}</strong> war am {{ due_date }} fällig, und wir haben noch keine Zahlung erhalten.{% else %}die Rechnung <strong>{{ invoice_number }}</strong> über <strong>{{ amount_due }}</strong> ist heute, am {{ due_date }}, fällig.{% endif %} So etwas geht im Alltag leicht unter, deshalb diese kurze Nachricht.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Rechnung {{ invoice_number }} online bezahlen</a></p>{% endif %}
<p>Wenn Sie bereits bezahlt haben, vielen Dank, und entschuldigen Sie die Erinnerung. Bei Fragen zur Rechnung antworten Sie einfach auf diese E-Mail, wir helfen gern.</p>
<p>Mit freundlichen Grüßen<br>Ihre Buchhaltung von {{ business_name }}</p>
""",
        ),
        "nl": (
            "{{ customer_name }}, factuur {{ invoice_number }} {% if days_overdue > 0 %}is vervallen{% else %}vervalt vandaag{% endif %}",
            """Beste {{ customer_name }},

{% if days_overdue > 0 %}Factuur {{ invoice_number }} van {{ amount_due }} verviel op {{ due_date }} en wij hebben de betaling nog niet ontvangen.{% else %}Factuur {{ invoice_number }} van {{ amount_due }} vervalt vandaag, {{ due_date }}.{% endif %} Zoiets schiet er makkelijk bij in, daarom dit korte bericht.
{% if payment_link %}
U kunt hier online betalen: {{ payment_link }}
{% endif %}
Heeft u al betaald, dan danken wij u en excuses voor de herinnering. Heeft u een vraag over de factuur, antwoord dan op deze e-mail; wij helpen u graag.

Met vriendelijke groet,
De financiële administratie van {{ business_name }}
""",
            """<p>Beste {{ customer_name }},</p>
<p>{% if days_overdue > 0 %}Factuur <strong>{{ invoice_number }}</strong> van <strong>{{ amount_due }}</strong> verviel op {{ due_date }} en wij hebben de betaling nog niet ontvangen.{% else %}Factuur <strong>{{ invoice_number }}</strong> van <strong>{{ amount_due }}</strong> vervalt vandaag, {{ due_date }}.{% endif %} Zoiets schiet er makkelijk bij in, daarom dit korte bericht.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Factuur {{ invoice_number }} online betalen</a></p>{% endif %}
<p>Heeft u al betaald, dan danken wij u en excuses voor de herinnering. Heeft u een vraag over de factuur, antwoord dan op deze e-mail; wij helpen u graag.</p>
<p>Met vriendelijke groet,<br>De financiële administratie van {{ business_name }}</p>
""",
        ),
        "es": (
            "{{ customer_name }}, la factura {{ invoice_number }} {% if days_overdue > 0 %}ha vencido{% else %}vence hoy{% endif %}",
            """Hola, {{ customer_name }}:

{% if days_overdue > 0 %}La factura {{ invoice_number }} por importe de {{ amount_due }} venció el {{ due_date }} y todavía no hemos recibido el pago.{% else %}La factura {{ invoice_number }} por importe de {{ amount_due }} vence hoy, {{ due_date }}.{% endif %} Son cosas que se pasan fácilmente, así que le enviamos esta breve nota.
{% if payment_link %}
Puede pagarla en línea aquí: {{ payment_link }}
{% endif %}
Si ya ha pagado, gracias, y disculpe el recordatorio. Si tiene alguna pregunta sobre la factura, responda a este correo y le ayudaremos con gusto.

Un saludo cordial,
El equipo de contabilidad de {{ business_name }}
""",
            """<p>Hola, {{ customer_name }}:</p>
<p>{% if days_overdue > 0 %}La factura <strong>{{ invoice_number }}</strong> por importe de <strong>{{ amount_due }}</strong> venció el {{ due_date }} y todavía no hemos recibido el pago.{% else %}La factura <strong>{{ invoice_number }}</strong> por importe de <strong>{{ amount_due }}</strong> vence hoy, {{ due_date }}.{% endif %} Son cosas que se pasan fácilmente, así que le enviamos esta breve nota.</p>
{% if payment_link %}<p><a href="{{ payment_link }}">Pagar la factura {{ invoice_number }} en línea</a></p>{% endif %}
<p>Si ya ha pagado, gracias, y disculpe el recordatorio. Si tiene alguna pregunta sobre la factura, responda a este correo y le ayudaremos con gusto.</p>
<p>Un saludo cordial,<br>El equipo de contabilidad de {{ business_name }}</p>
""",
        ),
    },
    "firm-reminder": {
        "en": (
            "{{ customer_name }}, invoice {{ invoice_number }} is now {{ days_overdue }} days overdue",
            """Hello {{ customer_name }},

We wrote to you about invoice {{ invoice_number }} a little while ago. It was due on {{ due_date }}, is now {{ days_overdue }} days overdue, and {{ amount_due }} is still outstanding.

Please pay it within the next seven days.{% if payment_link %} The quickest way is online: {{ payment_link }}{% endif %}

If you cannot pay the full amount right now, or if something is holding the payment up, please reply and tell us. We would much rather agree on a plan with you than keep sending reminders.

Kind regards,
The accounts team at {{ business_name }}
""",
            """<p>Hello {{ customer_name }},</p>
<p>We wrote to you about invoice <strong>{{ invoice_number }}</strong> a little while ago. It was due on {{ due_date }}, is now {{ days_overdue }} days overdue, and <strong>{{ amount_due }}</strong> is still outstanding.</p>
<p>Please pay it within the next seven days.{% if payment_link %} The quickest way is online: <a href="{{ payment_link }}">pay invoice {{ invoice_number }}</a>.{% endif %}</p>
<p>If you cannot pay the full amount right now, or if something is holding the payment up, please reply and tell us. We would much rather agree on a plan with you than keep sending reminders.</p>
<p>Kind regards,<br>The accounts team at {{ business_name }}</p>
""",
        ),
        "fr": (
            "{{ customer_name }}, la facture {{ invoice_number }} est en retard de {{ days_overdue }} jours",
            """Bonjour {{ customer_name }},

Nous vous avons écrit récemment au sujet de la facture {{ invoice_number }}. Elle était due le {{ due_date }}, elle est en retard de {{ days_overdue }} jours, et {{ amount_due }} restent à régler.

Merci de la régler dans les sept prochains jours.{% if payment_link %} Le plus simple est de payer en ligne : {{ payment_link }}{% endif %}

Si vous ne pouvez pas payer la totalité maintenant, ou si quelque chose bloque le paiement, répondez-nous. Nous préférons de loin convenir d'un échéancier avec vous plutôt que de multiplier les relances.

Bien cordialement,
Le service comptabilité de {{ business_name }}
""",
            """<p>Bonjour {{ customer_name }},</p>
<p>Nous vous avons écrit récemment au sujet de la facture <strong>{{ invoice_number }}</strong>. Elle était due le {{ due_date }}, elle est en retard de {{ days_overdue }} jours, et <strong>{{ amount_due }}</strong> restent à régler.</p>
<p>Merci de la régler dans les sept prochains jours.{% if payment_link %} Le plus simple est de payer en ligne : <a href="{{ payment_link }}">régler la facture {{ invoice_number }}</a>.{% endif %}</p>
<p>Si vous ne pouvez pas payer la totalité maintenant, ou si quelque chose bloque le paiement, répondez-nous. Nous préférons de loin convenir d'un échéancier avec vous plutôt que de multiplier les relances.</p>
<p>Bien cordialement,<br>Le service comptabilité de {{ business_name }}</p>
""",
        ),
        "de": (
            "{{ customer_name }}, Rechnung {{ invoice_number }} ist seit {{ days_overdue }} Tagen überfällig",
            """Guten Tag {{ customer_name }},

wir hatten Ihnen vor Kurzem wegen der Rechnung {{ invoice_number }} geschrieben. Sie war am {{ due_date }} fällig, ist seit {{ days_overdue }} Tagen überfällig, und {{ amount_due }} sind noch offen.

Bitte begleichen Sie den Betrag innerhalb der nächsten sieben Tage.{% if payment_link %} Am schnellsten geht es online: {{ payment_link }}{% endif %}

Wenn Sie den vollen Betrag gerade nicht zahlen können oder etwas die Zahlung aufhält, antworten Sie uns bitte. Eine gemeinsame Lösung ist uns lieber als weitere Erinnerungen.

Mit freundlichen Grüßen
Ihre Buchhaltung von {{ business_name }}
""",
            """<p>Guten Tag {{ customer_name }},</p>
<p>wir hatten Ihnen vor Kurzem wegen der Rechnung <strong>{{ invoice_number }}</strong> geschrieben. Sie war am {{ due_date }} fällig, ist seit {{ days_overdue }} Tagen überfällig, und <strong>{{ amount_due }}</strong> sind noch offen.</p>
<p>Bitte begleichen Sie den Betrag innerhalb der nächsten sieben Tage.{% if payment_link %} Am schnellsten geht es online: <a href="{{ payment_link }}">Rechnung {{ invoice_number }} bezahlen</a>.{% endif %}</p>
<p>Wenn Sie den vollen Betrag gerade nicht zahlen können oder etwas die Zahlung aufhält, antworten Sie uns bitte. Eine gemeinsame Lösung ist uns lieber als weitere Erinnerungen.</p>
<p>Mit freundlichen Grüßen<br>Ihre Buchhaltung von {{ business_name }}</p>
""",
        ),
        "nl": (
            "{{ customer_name }}, factuur {{ invoice_number }} is {{ days_overdue }} dagen over de vervaldatum",
            """Beste {{ customer_name }},

Wij schreven u onlangs over factuur {{ invoice_number }}. Deze verviel op {{ due_date }}, is nu {{ days_overdue }} dagen over de vervaldatum, en er staat nog {{ amount_due }} open.

Wilt u het bedrag binnen zeven dagen betalen?{% if payment_link %} Online betalen gaat het snelst: {{ payment_link }}{% endif %}

Kunt u het volledige bedrag nu niet betalen, of houdt iets de betaling tegen, laat het ons dan weten door op deze e-mail te antwoorden. Wij maken liever samen een afspraak dan dat wij herinneringen blijven sturen.

Met vriendelijke groet,
De financiële administratie van {{ business_name }}
""",
            """<p>Beste {{ customer_name }},</p>
<p>Wij schreven u onlangs over factuur <strong>{{ invoice_number }}</strong>. Deze verviel op {{ due_date }}, is nu {{ days_overdue }} dagen over de vervaldatum, en er staat nog <strong>{{ amount_due }}</strong> open.</p>
<p>Wilt u het bedrag binnen zeven dagen betalen?{% if payment_link %} Online betalen gaat het snelst: <a href="{{ payment_link }}">factuur {{ invoice_number }} betalen</a>.{% endif %}</p>
<p>Kunt u het volledige bedrag nu niet betalen, of houdt iets de betaling tegen, laat het ons dan weten door op deze e-mail te antwoorden. Wij maken liever samen een afspraak dan dat wij herinneringen blijven sturen.</p>
<p>Met vriendelijke groet,<br>De financiële administratie van {{ business_name }}</p>
""",
        ),
        "es": (
            "{{ customer_name }}, la factura {{ invoice_number }} lleva {{ days_overdue }} días vencida",
            """Hola, {{ customer_name }}:

Le escribimos hace poco sobre la factura {{ invoice_number }}. Venció el {{ due_date }}, lleva {{ days_overdue }} días vencida y siguen pendientes {{ amount_due }}.

Le rogamos que la pague en los próximos siete días.{% if payment_link %} La forma más rápida es en línea: {{ payment_link }}{% endif %}

Si ahora no puede pagar el importe completo, o si algo está retrasando el pago, responda a este correo y cuéntenoslo. Preferimos acordar un plan con usted antes que seguir enviando recordatorios.

Un saludo cordial,
El equipo de contabilidad de {{ business_name }}
""",
            """<p>Hola, {{ customer_name }}:</p>
<p>Le escribimos hace poco sobre la factura <strong>{{ invoice_number }}</strong>. Venció el {{ due_date }}, lleva {{ days_overdue }} días vencida y siguen pendientes <strong>{{ amount_due }}</strong>.</p>
<p>Le rogamos que la pague en los próximos siete días.{% if payment_link %} La forma más rápida es en línea: <a href="{{ payment_link }}">pagar la factura {{ invoice_number }}</a>.{% endif %}</p>
<p>Si ahora no puede pagar el importe completo, o si algo está retrasando el pago, responda a este correo y cuéntenoslo. Preferimos acordar un plan con usted antes que seguir enviando recordatorios.</p>
<p>Un saludo cordial,<br>El equipo de contabilidad de {{ business_name }}</p>
""",
        ),
    },
    "final-notice": {
        "en": (
            "Final notice for {{ customer_name }}: invoice {{ invoice_number }} ({{ amount_due }})",
            """Hello {{ customer_name }},

This is our final reminder about invoice {{ invoice_number }}. It was due on {{ due_date }}, is now {{ days_overdue }} days overdue, and {{ amount_due }} remains unpaid despite our earlier messages.

Please pay the full amount within seven days.{% if payment_link %} You can pay online here: {{ payment_link }}{% endif %}

If we do not hear from you by then, we will have to take further steps to recover the amount. We would genuinely prefer to avoid that: if you are having difficulties, reply to this email today and we will work out a way forward together.

Regards,
The accounts team at {{ business_name }}
""",
            """<p>Hello {{ customer_name }},</p>
<p>This is our final reminder about invoice <strong>{{ invoice_number }}</strong>. It was due on {{ due_date }}, is now {{ days_overdue }} days overdue, and <strong>{{ amount_due }}</strong> remains unpaid despite our earlier messages.</p>
<p>Please pay the full amount within seven days.{% if payment_link %} You can pay online here: <a href="{{ payment_link }}">pay invoice {{ invoice_number }}</a>.{% endif %}</p>
<p>If we do not hear from you by then, we will have to take further steps to recover the amount. We would genuinely prefer to avoid that: if you are having difficulties, reply to this email today and we will work out a way forward together.</p>
<p>Regards,<br>The accounts team at {{ business_name }}</p>
""",
        ),
        "fr": (
            "Dernier rappel pour {{ customer_name }} : facture {{ invoice_number }} ({{ amount_due }})",
            """Bonjour {{ customer_name }},

Ceci est notre dernier rappel concernant la facture {{ invoice_number }}. Elle était due le {{ due_date }}, elle est en retard de {{ days_overdue }} jours, et {{ amount_due }} restent impayés malgré nos précédents messages.

Merci de régler la totalité sous sept jours.{% if payment_link %} Vous pouvez payer en ligne ici : {{ payment_link }}{% endif %}

Sans nouvelles de votre part d'ici là, nous devrons engager d'autres démarches pour recouvrer cette somme. Nous souhaitons sincèrement l'éviter : si vous rencontrez des difficultés, répondez à ce message dès aujourd'hui et nous trouverons une solution ensemble.

Cordialement,
Le service comptabilité de {{ business_name }}
""",
            """<p>Bonjour {{ customer_name }},</p>
<p>Ceci est notre dernier rappel concernant la facture <strong>{{ invoice_number }}</strong>. Elle était due le {{ due_date }}, elle est en retard de {{ days_overdue }} jours, et <strong>{{ amount_due }}</strong> restent impayés malgré nos précédents messages.</p>
<p>Merci de régler la totalité sous sept jours.{% if payment_link %} Vous pouvez payer en ligne ici : <a href="{{ payment_link }}">régler la facture {{ invoice_number }}</a>.{% endif %}</p>
<p>Sans nouvelles de votre part d'ici là, nous devrons engager d'autres démarches pour recouvrer cette somme. Nous souhaitons sincèrement l'éviter : si vous rencontrez des difficultés, répondez à ce message dès aujourd'hui et nous trouverons une solution ensemble.</p>
<p>Cordialement,<br>Le service comptabilité de {{ business_name }}</p>
""",
        ),
        "de": (
            "Letzte Mahnung für {{ customer_name }}: Rechnung {{ invoice_number }} ({{ amount_due }})",
            """Guten Tag {{ customer_name }},

dies ist unsere letzte Erinnerung zur Rechnung {{ invoice_number }}. Sie war am {{ due_date }} fällig, ist seit {{ days_overdue }} Tagen überfällig, und {{ amount_due }} sind trotz unserer bisherigen Nachrichten noch offen.

Bitte zahlen Sie den vollen Betrag innerhalb von sieben Tagen.{% if payment_link %} Online bezahlen können Sie hier: {{ payment_link }}{% endif %}

Sollten wir bis dahin nichts von Ihnen hören, müssen wir weitere Schritte einleiten, um den Betrag einzuziehen. Das möchten wir gern vermeiden: Wenn Sie in Schwierigkeiten sind, antworten Sie uns noch heute, und wir finden gemeinsam eine Lösung.

Mit freundlichen Grüßen
Ihre Buchhaltung von {{ business_name }}
""",
            """<p>Guten Tag {{ customer_name }},</p>
<p>dies ist unsere letzte Erinnerung zur Rechnung <strong>{{ invoice_number }}</strong>. Sie war am {{ due_date }} fällig, ist seit {{ days_overdue }} Tagen überfällig, und <strong>{{ amount_due }}</strong> sind trotz unserer bisherigen Nachrichten noch offen.</p>
<p>Bitte zahlen Sie den vollen Betrag innerhalb von sieben Tagen.{% if payment_link %} Online bezahlen können Sie hier: <a href="{{ payment_link }}">Rechnung {{ invoice_number }} bezahlen</a>.{% endif %}</p>
<p>Sollten wir bis dahin nichts von Ihnen hören, müssen wir weitere Schritte einleiten, um den Betrag einzuziehen. Das möchten wir gern vermeiden: Wenn Sie in Schwierigkeiten sind, antworten Sie uns noch heute, und wir finden gemeinsam eine Lösung.</p>
<p>Mit freundlichen Grüßen<br>Ihre Buchhaltung von {{ business_name }}</p>
""",
        ),
        "nl": (
            "Laatste herinnering voor {{ customer_name }}: factuur {{ invoice_number }} ({{ amount_due }})",
            """Beste {{ customer_name }},

Dit is onze laatste herinnering over factuur {{ invoice_number }}. Deze verviel op {{ due_date }}, is nu {{ days_overdue }} dagen over de vervaldatum, en ondanks onze eerdere berichten staat er nog {{ amount_due }} open.

Wilt u het volledige bedrag binnen zeven dagen betalen?{% if payment_link %} Online betalen kan hier: {{ payment_link }}{% endif %}

Horen wij voor die tijd niets van u, dan moeten wij verdere stappen zetten om het bedrag te innen. Dat willen wij liever voorkomen: heeft u problemen met betalen, antwoord dan vandaag nog op deze e-mail en wij zoeken samen naar een oplossing.

Met vriendelijke groet,
De financiële administratie van {{ business_name }}
""",
            """<p>Beste {{ customer_name }},</p>
<p>Dit is onze laatste herinnering over factuur <strong>{{ invoice_number }}</strong>. Deze verviel op {{ due_date }}, is nu {{ days_overdue }} dagen over de vervaldatum, en ondanks onze eerdere berichten staat er nog <strong>{{ amount_due }}</strong> open.</p>
<p>Wilt u het volledige bedrag binnen zeven dagen betalen?{% if payment_link %} Online betalen kan hier: <a href="{{ payment_link }}">factuur {{ invoice_number }} betalen</a>.{% endif %}</p>
<p>Horen wij voor die tijd niets van u, dan moeten wij verdere stappen zetten om het bedrag te innen. Dat willen wij liever voorkomen: heeft u problemen met betalen, antwoord dan vandaag nog op deze e-mail en wij zoeken samen naar een oplossing.</p>
<p>Met vriendelijke groet,<br>De financiële administratie van {{ business_name }}</p>
""",
        ),
        "es": (
            "Último aviso para {{ customer_name }}: factura {{ invoice_number }} ({{ amount_due }})",
            """Hola, {{ customer_name }}:

Este es nuestro último recordatorio sobre la factura {{ invoice_number }}. Venció el {{ due_date }}, lleva {{ days_overdue }} días vencida y, a pesar de nuestros mensajes anteriores, siguen sin pagar {{ amount_due }}.

Le rogamos que pague el importe completo en un plazo de siete días.{% if payment_link %} Puede pagar en línea aquí: {{ payment_link }}{% endif %}

Si no tenemos noticias suyas en ese plazo, tendremos que tomar otras medidas para recuperar el importe. Nos gustaría de verdad evitarlo: si tiene dificultades, responda hoy mismo a este correo y buscaremos juntos una solución.

Saludos,
El equipo de contabilidad de {{ business_name }}
""",
            """<p>Hola, {{ customer_name }}:</p>
<p>Este es nuestro último recordatorio sobre la factura <strong>{{ invoice_number }}</strong>. Venció el {{ due_date }}, lleva {{ days_overdue }} días vencida y, a pesar de nuestros mensajes anteriores, siguen sin pagar <strong>{{ amount_due }}</strong>.</p>
<p>Le rogamos que pague el importe completo en un plazo de siete días.{% if payment_link %} Puede pagar en línea aquí: <a href="{{ payment_link }}">pagar la factura {{ invoice_number }}</a>.{% endif %}</p>
<p>Si no tenemos noticias suyas en ese plazo, tendremos que tomar otras medidas para recuperar el importe. Nos gustaría de verdad evitarlo: si tiene dificultades, responda hoy mismo a este correo y buscaremos juntos una solución.</p>
<p>Saludos,<br>El equipo de contabilidad de {{ business_name }}</p>
""",
        ),
    },
    THANK_YOU_KEY: {
        "en": (
            "Thank you, {{ customer_name }}: we received your payment for invoice {{ invoice_number }}",
            """Hello {{ customer_name }},

Thank you for your payment of {{ payment_amount }} on {{ payment_date }} for invoice {{ invoice_number }}. It has reached us and is recorded against your account.

We appreciate your business. If you ever have a question about an invoice, just reply to this email.

Warm regards,
The accounts team at {{ business_name }}
""",
            """<p>Hello {{ customer_name }},</p>
<p>Thank you for your payment of <strong>{{ payment_amount }}</strong> on {{ payment_date }} for invoice <strong>{{ invoice_number }}</strong>. It has reached us and is recorded against your account.</p>
<p>We appreciate your business. If you ever have a question about an invoice, just reply to this email.</p>
<p>Warm regards,<br>The accounts team at {{ business_name }}</p>
""",
        ),
        "fr": (
            "Merci {{ customer_name }} : nous avons bien reçu votre paiement pour la facture {{ invoice_number }}",
            """Bonjour {{ customer_name }},

Merci pour votre paiement de {{ payment_amount }} du {{ payment_date }} pour la facture {{ invoice_number }}. Nous l'avons bien reçu et enregistré sur votre compte.

Merci de votre confiance. Pour toute question sur une facture, il vous suffit de répondre à ce message.

Bien chaleureusement,
Le service comptabilité de {{ business_name }}
""",
            """<p>Bonjour {{ customer_name }},</p>
<p>Merci pour votre paiement de <strong>{{ payment_amount }}</strong> du {{ payment_date }} pour la facture <strong>{{ invoice_number }}</strong>. Nous l'avons bien reçu et enregistré sur votre compte.</p>
<p>Merci de votre confiance. Pour toute question sur une facture, il vous suffit de répondre à ce message.</p>
<p>Bien chaleureusement,<br>Le service comptabilité de {{ business_name }}</p>
""",
        ),
        "de": (
            "Vielen Dank, {{ customer_name }}: Ihre Zahlung für Rechnung {{ invoice_number }} ist eingegangen",
            """Guten Tag {{ customer_name }},

vielen Dank für Ihre Zahlung über {{ payment_amount }} vom {{ payment_date }} für die Rechnung {{ invoice_number }}. Sie ist bei uns eingegangen und auf Ihrem Konto verbucht.

Wir schätzen die Zusammenarbeit mit Ihnen. Wenn Sie einmal eine Frage zu einer Rechnung haben, antworten Sie einfach auf diese E-Mail.

Herzliche Grüße
Ihre Buchhaltung von {{ business_name }}
""",
            """<p>Guten Tag {{ customer_name }},</p>
<p>vielen Dank für Ihre Zahlung über <strong>{{ payment_amount }}</strong> vom {{ payment_date }} für die Rechnung <strong>{{ invoice_number }}</strong>. Sie ist bei uns eingegangen und auf Ihrem Konto verbucht.</p>
<p>Wir schätzen die Zusammenarbeit mit Ihnen. Wenn Sie einmal eine Frage zu einer Rechnung haben, antworten Sie einfach auf diese E-Mail.</p>
<p>Herzliche Grüße<br>Ihre Buchhaltung von {{ business_name }}</p>
""",
        ),
        "nl": (
            "Dank u wel, {{ customer_name }}: uw betaling voor factuur {{ invoice_number }} is ontvangen",
            """Beste {{ customer_name }},

Hartelijk dank voor uw betaling van {{ payment_amount }} op {{ payment_date }} voor factuur {{ invoice_number }}. Wij hebben de betaling ontvangen en op uw rekening verwerkt.

Wij waarderen de samenwerking. Heeft u ooit een vraag over een factuur, antwoord dan gewoon op deze e-mail.

Met hartelijke groet,
De financiële administratie van {{ business_name }}
""",
            """<p>Beste {{ customer_name }},</p>
<p>Hartelijk dank voor uw betaling van <strong>{{ payment_amount }}</strong> op {{ payment_date }} voor factuur <strong>{{ invoice_number }}</strong>. Wij hebben de betaling ontvangen en op uw rekening verwerkt.</p>
<p>Wij waarderen de samenwerking. Heeft u ooit een vraag over een factuur, antwoord dan gewoon op deze e-mail.</p>
<p>Met hartelijke groet,<br>De financiële administratie van {{ business_name }}</p>
""",
        ),
        "es": (
            "Gracias, {{ customer_name }}: hemos recibido su pago de la factura {{ invoice_number }}",
            """Hola, {{ customer_name }}:

Gracias por su pago de {{ payment_amount }} del {{ payment_date }} correspondiente a la factura {{ invoice_number }}. Lo hemos recibido y registrado en su cuenta.

Le agradecemos su confianza. Si alguna vez tiene una pregunta sobre una factura, basta con responder a este correo.

Un saludo muy cordial,
El equipo de contabilidad de {{ business_name }}
""",
            """<p>Hola, {{ customer_name }}:</p>
<p>Gracias por su pago de <strong>{{ payment_amount }}</strong> del {{ payment_date }} correspondiente a la factura <strong>{{ invoice_number }}</strong>. Lo hemos recibido y registrado en su cuenta.</p>
<p>Le agradecemos su confianza. Si alguna vez tiene una pregunta sobre una factura, basta con responder a este correo.</p>
<p>Un saludo muy cordial,<br>El equipo de contabilidad de {{ business_name }}</p>
""",
        ),
    },
}


@transaction.atomic
def ensure_default_campaign() -> Campaign:
    """Create the default campaign, its published version 1 and its templates where missing.

    Idempotent, and it never overwrites what staff changed: an existing campaign keeps
    its settings and versions, and an existing template keeps its wording.
    """
    campaign, _created = Campaign.objects.get_or_create(
        name=DEFAULT_CAMPAIGN_NAME,
        defaults={
            "description": "Email reminders from three days before the due date to a final notice three weeks after it.",
            "entry_tier": ToneTier.FRIENDLY,
            "min_days_between_messages": 5,
        },
    )

    if not campaign.versions.exists():
        version = CampaignVersion.objects.create(
            campaign=campaign,
            number=1,
            status=CampaignVersion.Status.PUBLISHED,
            published_at=timezone.now(),
        )
        CampaignStep.objects.bulk_create(
            CampaignStep(version=version, offset_days=offset, tier=tier, channel=Channel.EMAIL, template_key=key)
            for offset, tier, key in DEFAULT_STEPS
        )

    for key, languages in DEFAULT_TEMPLATES.items():
        for language, (subject, body_text, body_html) in languages.items():
            MessageTemplate.objects.get_or_create(
                key=key,
                channel=Channel.EMAIL,
                language=language,
                defaults={"subject": subject, "body_text": body_text, "body_html": body_html},
            )

    return campaign
