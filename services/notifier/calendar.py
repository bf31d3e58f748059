"""RFC 5545 invitations: REQUEST for a new or moved interview (same UID, higher SEQUENCE), CANCEL to call it off."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vText

from schemas.dispatch import MessageContext


def interview_ics(
    ctx: MessageContext, *, cancel: bool, organizer: str, attendee: str, domain: str, summary: str, now: datetime
) -> bytes:
    """An iCalendar document for one interview; the UID is stable per interview so clients update it."""
    assert ctx.interview_id, "an interview invitation needs the interview id"
    assert ctx.interview_start, "an interview invitation needs a start"
    assert ctx.interview_end, "an interview invitation needs an end"
    cal = Calendar()
    cal.add("prodid", "-//candidate-comms//interviews//EN")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancel else "REQUEST")
    ev = Event()
    ev.add("uid", f"interview-{ctx.interview_id}@{domain}")
    ev.add("sequence", ctx.interview_sequence)
    ev.add("dtstamp", now)
    ev.add("dtstart", ctx.interview_start)
    ev.add("dtend", ctx.interview_end)
    ev.add("summary", summary)
    if ctx.interview_location:
        ev.add("location", ctx.interview_location)
    if ctx.interview_video_link:
        ev.add("url", str(ctx.interview_video_link))
    ev.add("status", "CANCELLED" if cancel else "CONFIRMED")
    org = vCalAddress(f"mailto:{organizer}")
    org.params["cn"] = vText("Recruitment")
    ev.add("organizer", org)
    att = vCalAddress(f"mailto:{attendee}")
    att.params["role"] = vText("REQ-PARTICIPANT")
    att.params["partstat"] = vText("NEEDS-ACTION")
    att.params["rsvp"] = vText("TRUE")
    ev.add("attendee", att)
    cal.add_component(ev)
    return bytes(cal.to_ical())
