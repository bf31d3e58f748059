"""X-Twilio-Signature: the emulator signs as Twilio does and our verifier accepts exactly what twilio's
RequestValidator (the reference) accepts; forged or unsigned callbacks are refused with 403."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from deploy.local.provider_emulator import twilio_signature as emulator_signature
from services.notifier.signatures import portal_signature, twilio_signature, verify_portal, verify_twilio
from tests.notifier.provider_doubles import FakeReports, FakeStore, callback_app, counter, serving
from tests.notifier.provider_doubles import settings as notifier_settings

TOKEN = "dev-only-twilio-auth-token"
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=15)
tokens = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
hosts = st.sampled_from(["127.0.0.1", "notifier.example.org", "localhost", "[::1]", "user:pw@host.example"])
ports = st.sampled_from(["", ":80", ":443", ":8003", ":0", ":99999", ":x"])
paths = st.text(st.sampled_from("abc/-_.%20"), max_size=20).map(lambda p: "/" + p)
queries = st.one_of(st.just(""), st.dictionaries(names, texts, max_size=3).map(lambda q: "?" + urlencode(q)))
urls = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}{path}{query}",
    st.sampled_from(["http", "https", "HTTPS"]),
    hosts,
    ports,
    paths,
    queries,
)
forms = st.dictionaries(names, texts, max_size=6)


def _reference(token: str, url: str, params: dict[str, str], signature: str) -> bool:
    try:
        return bool(RequestValidator(token).validate(url, params, signature))
    except ValueError:  # the reference raises on a malformed port; we refuse
        return False


@settings(max_examples=300, deadline=None)
@given(token=tokens, url=urls, params=forms)
@example(token=TOKEN, url="https://notifier.example.org/callbacks/twilio/status", params={"MessageStatus": "sent"})
def test_emulator_signatures_pass_the_reference_and_ours(token: str, url: str, params: dict[str, str]) -> None:
    signature = emulator_signature(token, url, params)
    assert signature == RequestValidator(token).compute_signature(url, params)
    assert verify_twilio(token, url, params, signature) is _reference(token, url, params, signature)


@settings(max_examples=400, deadline=None)
@given(token=tokens, signed_url=urls, url=urls, params=forms, tamper=st.integers(0, 4), extra=texts)
def test_our_verifier_agrees_with_the_reference(
    token: str, signed_url: str, url: str, params: dict[str, str], tamper: int, extra: str
) -> None:
    signature = RequestValidator(token).compute_signature(signed_url, params)
    checked_url, checked, checked_token = signed_url, dict(params), token
    if tamper == 1:
        checked_url = url  # another URL (maybe the same one with or without the default port)
    elif tamper == 2:
        checked["Injected"] = extra
    elif tamper == 3:
        checked_token = token + "x"
    elif tamper == 4:
        signature = signature[:-2] + extra[:2]
    assert verify_twilio(checked_token, checked_url, checked, signature) is _reference(
        checked_token, checked_url, checked, signature
    )


@given(params=st.lists(st.tuples(names, texts), max_size=6))
def test_repeated_parameters_are_signed_like_the_reference(params: list[tuple[str, str]]) -> None:
    class MultiDict(dict[str, list[str]]):
        def getall(self, name: str) -> list[str]:
            return self[name]

    multi = MultiDict()
    for name, value in params:
        multi.setdefault(name, []).append(value)
    url = "https://notifier.example.org/callbacks/twilio/inbound"
    assert twilio_signature(TOKEN, url, params) == RequestValidator(TOKEN).compute_signature(url, multi)


def test_default_ports_are_accepted_either_way() -> None:
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed"}
    signed = twilio_signature(TOKEN, "https://n.example.org:443/cb", params)
    assert verify_twilio(TOKEN, "https://n.example.org/cb", params, signed)
    assert not verify_twilio(TOKEN, "https://n.example.org/cb", params, None)
    assert not verify_twilio(TOKEN, "https://n.example.org/cb", params, "")


def test_portal_signature_roundtrip() -> None:
    body = b'{"notification_id":"n-1"}'
    header = portal_signature("secret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_portal("secret", body, header)
    assert not verify_portal("secret", body + b" ", header)
    assert not verify_portal("secret", body, None)


async def test_forged_and_unsigned_callbacks_are_refused(tmp_path: Path) -> None:
    store, reports = FakeStore(), FakeReports()
    s = notifier_settings("http://127.0.0.1:9")
    app, metrics = callback_app(s, store, reports, phones={"+31612340000": "cand-1"})
    form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}
    async with serving(app) as public, httpx.AsyncClient(base_url=public) as client:
        s.public_url = public
        unsigned = await client.post("/callbacks/twilio/status", data=form)
        forged = await client.post(
            "/callbacks/twilio/status",
            data=form,
            headers={"X-Twilio-Signature": twilio_signature("guess", public, form)},
        )
        other_url = await client.post(
            "/callbacks/twilio/inbound",
            data={"From": "+31612340000", "Body": "STOP"},
            headers={
                "X-Twilio-Signature": twilio_signature(
                    TOKEN, public + "/callbacks/twilio/status", {"From": "+31612340000", "Body": "STOP"}
                )
            },
        )
    assert (unsigned.status_code, forged.status_code, other_url.status_code) == (403, 403, 403)
    assert counter(metrics, "rejected_callbacks", endpoint="status") == 2
    assert counter(metrics, "rejected_callbacks", endpoint="inbound") == 1
    assert reports.changes == [] and reports.replies == [] and store.inbound == {}
