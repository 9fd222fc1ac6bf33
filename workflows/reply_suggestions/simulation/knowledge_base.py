"""The simulated support desk's knowledge base: 40 articles of a fictional file-sharing SaaS.

Each article is built from a spec in :data:`SPECS`: a body of sentences with fact placeholders
(``{refund_window_days} days``, ``EUR {price_eur}``, ``{steps}``) filled from its FACTS, so every
number or named value a reply may claim can be checked against the passage text. ``facts`` holds
ints (unit in :data:`FACT_UNITS`) and ``steps`` (a list of numbered steps).

An upstream change (incident ``kb_article_changed``) publishes version + 1 of an article from its
day: every numeric fact moves to a new value (:func:`next_value`, e.g. a refund window of 14 ->
30 days), a confirmation step is added to its steps, the wording changes (:data:`REWORDINGS`)
and the feature gets its new name (the spec's ``new_name``), which the customers' questions then
use. An index built before the change holds none of that.

Pure data and functions: no I/O, no randomness.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The date version 1 of every article is valid from (before any simulated day).
KB_ORIGIN = dt.date(2025, 1, 1)

# Unit word per numeric fact, as the body states it ("EUR" goes before the number).
FACT_UNITS: dict[str, str] = {
    "refund_window_days": "days",
    "payout_days": "days",
    "invoice_history_months": "months",
    "retry_days": "days",
    "grace_days": "days",
    "discount_percent": "percent",
    "data_keep_days": "days",
    "transfer_min_eur": "EUR",
    "price_eur": "EUR",
    "seats": "seats",
    "storage_gb": "GB",
    "response_hours": "hours",
    "trial_days": "days",
    "changes_per_month": "times",
    "review_days": "days",
    "link_minutes": "minutes",
    "password_length": "characters",
    "confirm_hours": "hours",
    "deletion_days": "days",
    "invite_days": "days",
    "cooldown_days": "days",
    "languages": "languages",
    "sync_interval_minutes": "minutes",
    "versions_kept": "versions",
    "max_file_mb": "MB",
    "max_client_gb": "GB",
    "folder_items": "items",
    "min_free_gb": "GB",
    "trash_days": "days",
    "code_seconds": "seconds",
    "backup_codes": "backup codes",
    "session_hours": "hours",
    "ack_hours": "hours",
    "key_rotation_days": "days",
    "setup_days": "days",
    "slack_channels": "Slack channels",
    "rate_per_minute": "requests per minute",
    "token_days": "days",
    "calendar_refresh_minutes": "minutes",
    "webhook_retries": "times",
    "webhook_timeout_seconds": "seconds",
    "offline_files": "files",
    "video_minutes": "minutes",
    "devices": "devices",
    "bundle_count": "notifications",
    "dpa_days": "days",
    "migration_days": "days",
    "retention_days": "days",
    "export_hours": "hours",
}
# What a customer calls a fact when asking about it ("is the refund window still 14 days?").
FACT_LABELS: dict[str, str] = {
    name: name.rsplit("_", 1)[0].replace("_", " ") for name in FACT_UNITS
}
FACT_LABELS.update({"seats": "number of seats", "languages": "number of languages"})
FACT_LABELS.update({"devices": "device limit", "price_eur": "price"})

# Wording of version 2 and later: phrase substitutions applied to the body template.
REWORDINGS: tuple[tuple[str, str], ...] = (
    ("within", "no later than"),
    ("can be", "may be"),
    ("You can", "You are able to"),
    ("Open ", "Go to "),
    ("Choose ", "Click "),
    ("includes", "comes with"),
    ("every", "each"),
    ("after", "once"),
    ("at any time", "whenever you like"),
)
ADDED_STEP = "Confirm with the code we send to your email"
# Numeric facts move up this ladder on a change (a "nicer" number at least twice the old one).
_LADDER = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 24, 30, 40, 50, 60, 90, 100, 120, 180, 250, 365)
_LADDER += (500, 730, 1000, 1200, 2000, 2500, 5000, 10_000, 20_000, 50_000, 100_000)


@dataclass(frozen=True)
class Spec:
    """How one article is written, and how customers ask about it."""

    category: str
    title: str
    keywords: tuple[str, ...]  # the article's tags, which questions also use
    asks: tuple[str, ...]  # ways a customer asks for it (no trailing '?')
    sentences: tuple[str, ...]  # the body, with {fact} placeholders
    facts: Mapping[str, Any]
    new_name: str  # what the feature is called from its first change on
    edge: bool = False  # questions about it form the edge-case slice
    related: tuple[str, ...] = ()  # articles a question about it may also need


def _s(*sentences: str) -> tuple[str, ...]:
    return sentences


_BILLING_STEPS = ("Open Billing in the admin console",)

SPECS: dict[str, Spec] = {
    "KB-001": Spec(
        "billing",
        "Refunds for annual subscriptions",
        ("refund", "annual", "subscription", "money"),
        ("how do I get a refund for my annual subscription", "can I get my money back"),
        _s(
            "Annual subscriptions can be refunded within {refund_window_days} days of payment.",
            "After {refund_window_days} days the subscription runs until the end of the year.",
            "The refund goes back to the card or account that paid the invoice.",
            "Refunds usually arrive in {payout_days} days, depending on your bank.",
            "To ask for a refund: {steps}",
        ),
        {
            "refund_window_days": 14,
            "payout_days": 5,
            "steps": [*_BILLING_STEPS, "Select the invoice", "Choose Request refund"],
        },
        "money-back promise",
        related=("KB-002", "KB-005"),
    ),
    "KB-002": Spec(
        "billing",
        "Invoices and VAT numbers",
        ("invoice", "VAT", "tax", "PDF"),
        ("how do I add my VAT number to invoices", "where can I download my invoice as PDF"),
        _s(
            "Every payment creates an invoice you can download as PDF.",
            "Invoices of the last {invoice_history_months} months are listed under Billing.",
            "A VAT number added to the company profile appears on all later invoices.",
            "Earlier invoices are not reissued with a new VAT number.",
            "To add a VAT number: {steps}",
        ),
        {
            "invoice_history_months": 24,
            "steps": ["Open Billing", "Choose Company details", "Enter the VAT number and save"],
        },
        "tax ID",
        related=("KB-006",),
    ),
    "KB-003": Spec(
        "billing",
        "Failed card payments",
        ("card", "declined", "payment", "retry"),
        ("my card payment was declined, what happens now", "why did the card payment fail"),
        _s(
            "When a card payment fails we retry it every {retry_days} days.",
            "Your workspace stays active for a grace period of {grace_days} days.",
            "After the grace period the workspace becomes read-only until the invoice is paid.",
            "Expired or blocked cards cause most failed payments.",
            "To pay the open invoice: {steps}",
        ),
        {
            "retry_days": 3,
            "grace_days": 7,
            "steps": ["Open Billing", "Update the card", "Choose Pay now"],
        },
        "payment recovery",
        related=("KB-006",),
    ),
    "KB-004": Spec(
        "billing",
        "Changing the billing cycle",
        ("monthly", "yearly", "cycle", "discount"),
        ("can I switch from monthly to yearly billing", "how much do I save with yearly billing"),
        _s(
            "You can switch between monthly and yearly billing at any time.",
            "Yearly billing saves {discount_percent} percent compared with monthly payments.",
            "The switch takes effect at the start of the next billing cycle.",
            "Unused days of the current cycle are credited to the account.",
            "To switch the cycle: {steps}",
        ),
        {
            "discount_percent": 20,
            "steps": ["Open Billing", "Choose Billing cycle", "Select Yearly and confirm"],
        },
        "annual saver",
    ),
    "KB-005": Spec(
        "billing",
        "Cancelling a subscription",
        ("cancel", "cancellation", "stop", "reactivate"),
        ("how do I cancel my subscription", "I want to stop paying and cancel the plan"),
        _s(
            "You can cancel a subscription from the admin console at any time.",
            "The plan stays active until the end of the paid period.",
            "After cancelling, your data is kept for {data_keep_days} days before it is deleted.",
            "You can reactivate the subscription during those {data_keep_days} days.",
            "To cancel: {steps}",
        ),
        {
            "data_keep_days": 90,
            "steps": ["Open Billing", "Choose Cancel subscription", "Give a reason and confirm"],
        },
        "plan closure",
        related=("KB-001",),
    ),
    "KB-006": Spec(
        "billing",
        "Payment methods we accept",
        ("PayPal", "SEPA", "transfer", "method"),
        ("can I pay by bank transfer or PayPal", "which payment methods do you accept"),
        _s(
            "We accept credit cards, PayPal and SEPA direct debit.",
            "Bank transfer is available for invoices of EUR {transfer_min_eur} or more.",
            "Payment methods can be changed before the next invoice is created.",
            "Cards are charged on the first day of each billing cycle.",
            "To change the payment method: {steps}",
        ),
        {
            "transfer_min_eur": 500,
            "steps": ["Open Billing", "Choose Payment method", "Add the new method"],
        },
        "wallet settings",
    ),
    "KB-007": Spec(
        "plans",
        "The Starter plan",
        ("Starter", "small", "seats", "storage"),
        ("what does the Starter plan include", "how many seats does Starter have"),
        _s(
            "The Starter plan costs EUR {price_eur} per user per month.",
            "It includes up to {seats} seats and {storage_gb} GB of shared storage.",
            "Starter has email support only.",
            "You can upgrade to the Team plan at any time without losing data.",
        ),
        {"price_eur": 9, "seats": 3, "storage_gb": 10},
        "Essentials",
        related=("KB-011",),
    ),
    "KB-008": Spec(
        "plans",
        "The Team plan",
        ("Team", "collaboration", "guest", "roles"),
        ("what is included in the Team plan", "how much storage does the Team plan have"),
        _s(
            "The Team plan costs EUR {price_eur} per user per month.",
            "It includes up to {seats} seats and {storage_gb} GB of shared storage.",
            "Team adds shared folders, guest access and chat support.",
            "Admins can set roles for every member.",
        ),
        {"price_eur": 19, "seats": 50, "storage_gb": 500},
        "Collaborate",
        related=("KB-011",),
    ),
    "KB-009": Spec(
        "plans",
        "The Enterprise plan",
        ("Enterprise", "dedicated", "contract", "unlimited"),
        ("what is included in the Enterprise plan", "do Enterprise customers get dedicated help"),
        _s(
            "The Enterprise plan starts at EUR {price_eur} per user per month, billed yearly.",
            "It includes unlimited seats and {storage_gb} GB of storage.",
            "Enterprise customers get a dedicated account manager.",
            "Support answers urgent Enterprise tickets within {response_hours} hours.",
            "Single sign-on and audit logs are included.",
        ),
        {"price_eur": 39, "storage_gb": 5000, "response_hours": 4},
        "Scale",
        edge=True,
        related=("KB-028", "KB-039"),
    ),
    "KB-010": Spec(
        "plans",
        "Free trial",
        ("trial", "free", "evaluation", "credit card"),
        ("how long is the free trial", "do I need a credit card for the trial"),
        _s(
            "Every new workspace starts with a free trial of {trial_days} days.",
            "No credit card is needed to start the trial.",
            "At the end of the trial the workspace moves to the free tier unless you pick a plan.",
            "Data created during the trial is kept when you subscribe.",
        ),
        {"trial_days": 14},
        "test drive",
    ),
    "KB-011": Spec(
        "plans",
        "Upgrading or downgrading a plan",
        ("upgrade", "downgrade", "pro rata", "bigger"),
        ("how do I upgrade to a bigger plan", "what happens to my bill if I downgrade"),
        _s(
            "Upgrades take effect immediately and are billed pro rata.",
            "Downgrades take effect at the end of the billing cycle.",
            "You can change the plan up to {changes_per_month} times per month.",
            "If a downgrade leaves more members than seats, the newest members become guests.",
            "To change the plan: {steps}",
        ),
        {
            "changes_per_month": 2,
            "steps": ["Open Billing", "Choose Change plan", "Pick the plan and confirm"],
        },
        "plan switcher",
    ),
    "KB-012": Spec(
        "plans",
        "Nonprofit and education discounts",
        ("nonprofit", "education", "school", "charity"),
        ("do you have a discount for nonprofits", "is there a price for schools and charities"),
        _s(
            "Registered nonprofits and schools get {discount_percent} percent off any paid plan.",
            "The discount needs proof of status, such as a charity register entry.",
            "Approval takes up to {review_days} days.",
            "The discount is renewed every year after a new check.",
        ),
        {"discount_percent": 50, "review_days": 5},
        "impact pricing",
    ),
    "KB-013": Spec(
        "account",
        "Resetting your password",
        ("password", "reset", "forgot", "link"),
        ("I forgot my password, how do I reset it", "the password reset link does not work"),
        _s(
            "You can reset your password from the sign-in page.",
            "The reset link in the email is valid for {link_minutes} minutes.",
            "A new password needs at least {password_length} characters.",
            "If no email arrives, check the spam folder and the address on the account.",
            "To reset the password: {steps}",
        ),
        {
            "link_minutes": 30,
            "password_length": 12,
            "steps": ["Open the sign-in page", "Choose Forgot password", "Follow the email link"],
        },
        "account recovery",
        related=("KB-024",),
    ),
    "KB-014": Spec(
        "account",
        "Changing the account email",
        ("email", "address", "change", "confirmation"),
        ("how do I change the email address of my account", "I need a new login email"),
        _s(
            "The account email can be changed in the profile settings.",
            "We send a confirmation to the new address that is valid for {confirm_hours} hours.",
            "Until it is confirmed, the old address stays active.",
            "Admins of a workspace can change the email of members.",
            "To change the email: {steps}",
        ),
        {
            "confirm_hours": 24,
            "steps": ["Open Profile", "Choose Email", "Enter the new address and confirm it"],
        },
        "login identity",
    ),
    "KB-015": Spec(
        "account",
        "Deleting your account",
        ("delete", "erase", "permanently", "restore"),
        ("how do I delete my account", "can I erase my profile permanently"),
        _s(
            "Deleting an account removes your profile and your private files.",
            "The deletion is final after {deletion_days} days.",
            "During those {deletion_days} days you can restore the account by signing in.",
            "Files shared with a workspace stay with the workspace.",
            "To delete the account: {steps}",
        ),
        {
            "deletion_days": 30,
            "steps": ["Open Profile", "Choose Delete account", "Type your password to confirm"],
        },
        "account removal",
    ),
    "KB-016": Spec(
        "account",
        "Inviting members to a workspace",
        ("invite", "invitation", "member", "workspace"),
        ("how do I invite a colleague to the workspace", "my invitation link expired"),
        _s(
            "Admins can invite members by email.",
            "An invitation expires after {invite_days} days.",
            "Guests can see only the folders shared with them.",
            "Every member counts as one seat of the plan.",
            "To invite members: {steps}",
        ),
        {
            "invite_days": 7,
            "steps": ["Open Members", "Choose Invite", "Enter the email addresses and send"],
        },
        "team onboarding",
        related=("KB-008",),
    ),
    "KB-017": Spec(
        "account",
        "Transferring workspace ownership",
        ("owner", "ownership", "transfer", "handover"),
        ("how do I make someone else the owner", "can I transfer ownership of the workspace"),
        _s(
            "The owner of a workspace can hand ownership to another admin.",
            "The new owner must accept the transfer by email.",
            "Ownership can be transferred once every {cooldown_days} days.",
            "The previous owner stays an admin unless removed.",
            "To transfer ownership: {steps}",
        ),
        {
            "cooldown_days": 3,
            "steps": ["Open Members", "Choose the new owner", "Choose Make owner and confirm"],
        },
        "owner handover",
    ),
    "KB-018": Spec(
        "account",
        "Profile language and time zone",
        ("language", "timezone", "locale", "region"),
        ("how do I change the app language", "my time zone is wrong in notifications"),
        _s(
            "You can choose the app language and time zone in the profile.",
            "The app is available in {languages} languages.",
            "Dates and times in notifications follow your time zone.",
            "The workspace default applies to new members.",
            "To change them: {steps}",
        ),
        {
            "languages": 12,
            "steps": ["Open Profile", "Choose Language and region", "Pick language and zone"],
        },
        "regional settings",
    ),
    "KB-019": Spec(
        "sync",
        "Desktop sync is not working",
        ("sync", "desktop", "stuck", "client"),
        ("my desktop sync is stuck", "files are not syncing on my computer"),
        _s(
            "The desktop client checks for changes every {sync_interval_minutes} minutes.",
            "A stuck sync is often caused by a file that is open in another program.",
            "Pausing and resuming sync clears most errors.",
            "The client log lists the files it could not sync.",
            "To restart sync: {steps}",
        ),
        {
            "sync_interval_minutes": 5,
            "steps": ["Open the desktop client", "Choose Pause sync", "Choose Resume sync"],
        },
        "SyncEngine",
        related=("KB-020", "KB-022"),
    ),
    "KB-020": Spec(
        "sync",
        "Sync conflicts and conflicted copies",
        ("conflict", "conflicted", "copy", "offline edit"),
        ("why do I see a conflicted copy of my file", "two people edited the same file"),
        _s(
            "A conflict happens when two people edit the same file offline.",
            "We keep both versions and name the second one a conflicted copy.",
            "The file history keeps the last {versions_kept} versions of every file.",
            "Merge the changes by hand and delete the copy.",
        ),
        {"versions_kept": 10},
        "version clash",
    ),
    "KB-021": Spec(
        "sync",
        "File size limits",
        ("size", "large", "upload", "MB"),
        ("what is the maximum file size for uploads", "my large upload keeps failing"),
        _s(
            "Files up to {max_file_mb} MB can be uploaded in the browser.",
            "The desktop client uploads files of up to {max_client_gb} GB.",
            "Large uploads resume where they stopped after a lost connection.",
            "Folders with more than {folder_items} items sync more slowly.",
        ),
        {"max_file_mb": 250, "max_client_gb": 50, "folder_items": 10000},
        "upload quota",
    ),
    "KB-022": Spec(
        "sync",
        "Selective sync",
        ("selective", "folders", "disk", "space"),
        ("can I sync only some folders", "the sync fills my disk space"),
        _s(
            "Selective sync lets you choose which folders are stored on the computer.",
            "Folders left out stay in the cloud and in the browser.",
            "Sync pauses when less than {min_free_gb} GB of disk space is free.",
            "To pick folders: {steps}",
        ),
        {
            "min_free_gb": 2,
            "steps": ["Open the desktop client", "Choose Preferences", "Untick unneeded folders"],
        },
        "smart folders",
    ),
    "KB-023": Spec(
        "sync",
        "Restoring deleted files",
        ("trash", "deleted", "recover", "undelete"),
        ("how do I recover a deleted file", "I deleted a folder by mistake"),
        _s(
            "Deleted files stay in the trash for {trash_days} days.",
            "Admins can restore files deleted by any member.",
            "After {trash_days} days files are removed for good.",
            "To restore files: {steps}",
        ),
        {"trash_days": 30, "steps": ["Open Trash", "Select the files", "Choose Restore"]},
        "recycle bin",
    ),
    "KB-024": Spec(
        "security",
        "Two-factor authentication",
        ("two-factor", "2FA", "authenticator", "code"),
        ("how do I turn on two-factor authentication", "my authenticator code is rejected"),
        _s(
            "Two-factor authentication adds a code from an authenticator app to the sign-in.",
            "Each code is valid for {code_seconds} seconds.",
            "You get {backup_codes} backup codes when you turn it on.",
            "Admins can require two-factor authentication for the whole workspace.",
            "To turn it on: {steps}",
        ),
        {
            "code_seconds": 30,
            "backup_codes": 10,
            "steps": ["Open Security", "Choose Two-factor authentication", "Scan the QR code"],
        },
        "sign-in protection",
    ),
    "KB-025": Spec(
        "security",
        "Session timeout and signing out",
        ("session", "timeout", "logout", "inactivity"),
        ("why am I signed out all the time", "how long does a session last"),
        _s(
            "A session ends after {session_hours} hours without activity.",
            "Admins can shorten the timeout for the workspace.",
            "Signing out on one device does not end sessions on others.",
            "You can end all sessions from the security page.",
        ),
        {"session_hours": 12},
        "idle logout",
    ),
    "KB-026": Spec(
        "security",
        "Reporting a security issue",
        ("vulnerability", "phishing", "disclosure", "suspicious"),
        ("how do I report a vulnerability", "I got a suspicious phishing email in your name"),
        _s(
            "Send suspected vulnerabilities to the security team through the disclosure form.",
            "We confirm every report within {ack_hours} hours.",
            "Phishing emails that use our name can be forwarded to the same team.",
            "Please do not test against the data of other customers.",
        ),
        {"ack_hours": 48},
        "bug bounty",
    ),
    "KB-027": Spec(
        "security",
        "Encryption of stored files",
        ("encryption", "encrypted", "AES", "keys"),
        ("are my files encrypted", "how are the encryption keys managed"),
        _s(
            "Files are encrypted at rest with AES-256.",
            "Data in transit uses TLS 1.3.",
            "Encryption keys are rotated every {key_rotation_days} days.",
            "Enterprise customers can bring their own keys.",
        ),
        {"key_rotation_days": 90},
        "data vault",
    ),
    "KB-028": Spec(
        "security",
        "Single sign-on with SAML",
        ("SSO", "SAML", "Okta", "identity provider"),
        ("how do I set up single sign-on with SAML", "can we log in through Okta"),
        _s(
            "Single sign-on with SAML is available on the Enterprise plan.",
            "Supported identity providers include Okta, Azure AD and Google.",
            "Members signing in through SSO do not need a separate password.",
            "Setup with our team takes up to {setup_days} days.",
        ),
        {"setup_days": 3},
        "federated login",
        edge=True,
        related=("KB-009",),
    ),
    "KB-029": Spec(
        "integrations",
        "Slack integration",
        ("Slack", "channel", "notify", "integration"),
        ("how do I connect Slack", "can file changes be posted to a Slack channel"),
        _s(
            "The Slack integration posts file changes to the channels you choose.",
            "Each workspace can connect up to {slack_channels} Slack channels.",
            "Members can comment on files straight from Slack.",
            "To connect Slack: {steps}",
        ),
        {
            "slack_channels": 20,
            "steps": ["Open Integrations", "Choose Slack", "Allow access and pick channels"],
        },
        "chat connector",
    ),
    "KB-030": Spec(
        "integrations",
        "API access and rate limits",
        ("API", "token", "rate limit", "requests"),
        ("what is the API rate limit", "my API token stopped working"),
        _s(
            "API tokens are created in the developer settings.",
            "Each token may send {rate_per_minute} requests per minute.",
            "Requests above the limit receive status 429.",
            "Tokens expire after {token_days} days unless renewed.",
        ),
        {"rate_per_minute": 600, "token_days": 90},
        "developer platform",
        related=("KB-032",),
    ),
    "KB-031": Spec(
        "integrations",
        "Calendar integration",
        ("calendar", "Outlook", "Google Calendar", "events"),
        ("how do I connect my Outlook calendar", "shared events do not show up"),
        _s(
            "The calendar integration links files to events in Google Calendar and Outlook.",
            "Events are refreshed every {calendar_refresh_minutes} minutes.",
            "Attendees get access to the linked files for the length of the event.",
            "To connect a calendar: {steps}",
        ),
        {
            "calendar_refresh_minutes": 15,
            "steps": ["Open Integrations", "Choose Calendar", "Sign in to the calendar"],
        },
        "schedule link",
    ),
    "KB-032": Spec(
        "integrations",
        "Webhooks",
        ("webhook", "callback", "endpoint", "signature"),
        ("how do webhooks work", "our webhook endpoint misses events"),
        _s(
            "Webhooks send an HTTP POST to your endpoint for every event you choose.",
            "A failed delivery is retried {webhook_retries} times.",
            "Each request carries a signature header to verify it.",
            "Endpoints must answer within {webhook_timeout_seconds} seconds.",
        ),
        {"webhook_retries": 5, "webhook_timeout_seconds": 10},
        "event hooks",
    ),
    "KB-033": Spec(
        "mobile",
        "Mobile app offline mode",
        ("mobile", "offline", "phone", "airplane"),
        ("can I open files offline on my phone", "how does offline mode work in the mobile app"),
        _s(
            "The mobile app keeps files marked as offline on the phone.",
            "You can mark up to {offline_files} files as offline.",
            "Offline files update the next time the phone is online.",
            "To mark a file: {steps}",
        ),
        {
            "offline_files": 500,
            "steps": ["Open the file in the app", "Tap the menu", "Choose Available offline"],
        },
        "travel mode",
    ),
    "KB-034": Spec(
        "mobile",
        "Camera uploads",
        ("camera", "photos", "videos", "Wi-Fi"),
        ("how do I back up my photos from the phone", "camera upload skips my videos"),
        _s(
            "Camera uploads copy new photos and videos from the phone.",
            "Uploads run only on Wi-Fi unless you allow mobile data.",
            "Videos longer than {video_minutes} minutes are skipped.",
            "Uploaded photos go to the Camera folder.",
        ),
        {"video_minutes": 10},
        "photo backup",
    ),
    "KB-035": Spec(
        "mobile",
        "Supported devices",
        ("iOS", "Android", "tablet", "devices"),
        ("on how many devices can I sign in", "is my Android tablet supported"),
        _s(
            "The app runs on current iOS and Android phones and tablets.",
            "Each user can sign in on up to {devices} devices at once.",
            "Signing in on a new device ends the oldest session once the limit is reached.",
            "Older app versions stop receiving updates after a year.",
        ),
        {"devices": 5},
        "device policy",
    ),
    "KB-036": Spec(
        "mobile",
        "Push notifications",
        ("push", "notifications", "mute", "alerts"),
        ("how do I mute push notifications", "I get too many notifications on my phone"),
        _s(
            "Push notifications tell you about comments, shares and mentions.",
            "Once more than {bundle_count} notifications arrive in an hour, they are bundled.",
            "You can mute a folder to stop its notifications.",
            "To change them: {steps}",
        ),
        {
            "bundle_count": 10,
            "steps": ["Open Settings in the app", "Tap Notifications", "Switch off what you like"],
        },
        "alert center",
    ),
    "KB-037": Spec(
        "compliance",
        "GDPR data processing agreement",
        ("GDPR", "DPA", "processing", "privacy"),
        ("where do I get a GDPR data processing agreement", "can you sign our DPA"),
        _s(
            "A data processing agreement under the GDPR is available for every paid plan.",
            "You can sign our standard agreement online.",
            "A counter-signed copy is sent back within {dpa_days} days.",
            "Custom agreements are reviewed for Enterprise customers only.",
        ),
        {"dpa_days": 10},
        "privacy addendum",
        edge=True,
        related=("KB-038",),
    ),
    "KB-038": Spec(
        "compliance",
        "Data residency in the EU",
        ("residency", "EU", "Frankfurt", "data center"),
        ("can our data stay in the EU", "where is the data center for our workspace"),
        _s(
            "Workspaces can keep their files in our data center in Frankfurt.",
            "Moving an existing workspace to the EU region takes up to {migration_days} days.",
            "Backups stay in the same region as the files.",
            "Data residency is part of the Enterprise plan.",
        ),
        {"migration_days": 14},
        "sovereign hosting",
        edge=True,
        related=("KB-037",),
    ),
    "KB-039": Spec(
        "compliance",
        "Audit logs",
        ("audit", "activity", "log", "compliance"),
        ("how long are audit logs kept", "can I export the audit log"),
        _s(
            "The audit log records sign-ins, shares, downloads and admin changes.",
            "Entries are kept for {retention_days} days.",
            "Admins can export the audit log as CSV.",
            "The audit log is part of the Enterprise plan.",
        ),
        {"retention_days": 365},
        "activity trail",
        edge=True,
    ),
    "KB-040": Spec(
        "account",
        "Exporting all workspace data",
        ("export", "archive", "zip", "download everything"),
        ("how do I export all our data", "can I download the whole workspace as a zip"),
        _s(
            "Owners can export all files and folders of a workspace as a ZIP archive.",
            "The archive is ready within {export_hours} hours.",
            "We send an email with the download link when it is ready.",
            "To start the export: {steps}",
        ),
        {
            "export_hours": 48,
            "steps": ["Open Workspace settings", "Choose Export data", "Confirm the export"],
        },
        "data takeout",
    ),
}
ARTICLE_IDS: tuple[str, ...] = tuple(SPECS)
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(spec.category for spec in SPECS.values()))
EDGE_ARTICLES: tuple[str, ...] = tuple(a for a, spec in SPECS.items() if spec.edge)


@dataclass(frozen=True)
class Article:
    """One version of a knowledge-base article, as the source holds it."""

    article_id: str
    version: int
    valid_from: dt.date
    title: str
    category: str
    body: str
    facts: dict[str, Any] = field(hash=False)
    keywords: tuple[str, ...] = ()

    def as_row(self) -> dict[str, Any]:
        """The article as a ``kb_articles`` row (facts and keywords as JSON text)."""
        return {
            "article_id": self.article_id,
            "version": self.version,
            "valid_from": self.valid_from.isoformat(),
            "title": self.title,
            "category": self.category,
            "body": self.body,
            "facts": json.dumps(self.facts, sort_keys=True),
            "keywords": json.dumps(list(self.keywords)),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Article:
        return cls(
            article_id=str(row["article_id"]),
            version=int(row["version"]),
            valid_from=dt.date.fromisoformat(str(row["valid_from"])),
            title=str(row["title"]),
            category=str(row["category"]),
            body=str(row["body"]),
            facts=json.loads(row["facts"]),
            keywords=tuple(json.loads(row["keywords"])),
        )


def render_steps(steps: Sequence[str]) -> str:
    """``1. Open Billing. 2. Select the invoice.``: the steps as the body states them."""
    return " ".join(f"{i}. {step}." for i, step in enumerate(steps, start=1))


def next_value(value: int) -> int:
    """The value a numeric fact takes after an upstream change: the first ladder value at least
    twice the old one (14 -> 30 days, EUR 9 -> EUR 20), or twice it above the ladder."""
    for candidate in _LADDER:
        if candidate >= 2 * value:
            return candidate
    return 2 * value


def changed_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of the next version: every number moved up, a confirmation step added."""
    out: dict[str, Any] = {}
    for name, value in facts.items():
        if name == "steps":
            steps = list(value)
            out[name] = steps if ADDED_STEP in steps else [steps[0], ADDED_STEP, *steps[1:]]
        else:
            out[name] = next_value(int(value))
    return out


def _reword(sentence: str) -> str:
    for old, new in REWORDINGS:
        sentence = sentence.replace(old, new)
    return sentence


def _render(spec: Spec, version: int, facts: Mapping[str, Any]) -> tuple[str, str]:
    """(title, body) of ``version`` of an article with these facts."""
    values = {k: (render_steps(v) if k == "steps" else v) for k, v in facts.items()}
    if version == 1:
        return spec.title, " ".join(s.format(**values) for s in spec.sentences)
    # Later versions: new wording (of the template, so facts and steps stay verbatim), the
    # feature's new name, and a note of the change.
    intro = f"{spec.title} is now called the {spec.new_name}."
    outro = f"This {spec.new_name} article replaces the earlier version."
    body = " ".join([intro, *(_reword(s).format(**values) for s in spec.sentences), outro])
    return f"{spec.title}: the {spec.new_name}", body


def _article(article_id: str, version: int, valid_from: dt.date, facts: Mapping) -> Article:
    spec = SPECS[article_id]
    title, body = _render(spec, version, facts)
    keywords = spec.keywords if version == 1 else (*spec.keywords, spec.new_name)
    return Article(
        article_id, version, valid_from, title, spec.category, body, dict(facts), keywords
    )


def base_articles() -> list[Article]:
    """Version 1 of every article, valid from :data:`KB_ORIGIN`, in id order."""
    return [_article(a, 1, KB_ORIGIN, SPECS[a].facts) for a in ARTICLE_IDS]


def _changes(incidents: Iterable[Any], until: dt.date | None) -> list[tuple[dt.date, str]]:
    """(day, article_id) of every ``kb_article_changed`` incident up to ``until``, by day."""
    out = []
    for incident in incidents:
        if getattr(incident, "kind", None) != "kb_article_changed":
            continue
        if until is None or incident.day <= until:
            out.append((incident.day, incident.params["article_id"]))
    return sorted(out)


def kb_history(incidents: Iterable[Any] = (), until: dt.date | None = None) -> list[Article]:
    """Every article version published up to ``until`` (all, if None), ordered by article id
    then version. Each ``kb_article_changed`` incident adds the next version of its article,
    valid from its day; two changes of one article on one day publish one version."""
    history = {a.article_id: [a] for a in base_articles()}
    for day, article_id in _changes(incidents, until):
        if article_id not in history:
            raise ValueError(f"kb_article_changed names unknown article {article_id!r}")
        latest = history[article_id][-1]
        if latest.valid_from == day:
            continue
        history[article_id].append(
            _article(article_id, latest.version + 1, day, changed_facts(latest.facts))
        )
    return [version for a in ARTICLE_IDS for version in history[a]]


def articles_on(day: dt.date, incidents: Iterable[Any] = ()) -> list[Article]:
    """The knowledge base as the source holds it on ``day``: the newest version of each article
    valid on that day, in id order."""
    latest: dict[str, Article] = {}
    for article in kb_history(incidents, until=day):
        latest[article.article_id] = article  # versions come in ascending order
    return [latest[a] for a in ARTICLE_IDS]


def changed_articles(day: dt.date, incidents: Iterable[Any] = ()) -> list[Article]:
    """The articles whose version on ``day`` is newer than version 1 (their newest version)."""
    return [a for a in articles_on(day, incidents) if a.version > 1]


def kb_version(articles: Iterable[Article]) -> str:
    """A content hash of a set of article versions (16 hex digits): equal for equal content,
    whatever the order; it changes when any article's id, version, title, body or facts do."""
    rows = sorted((a.article_id, a.version, a.title, a.category, a.body, a.facts) for a in articles)
    text = json.dumps(rows, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
