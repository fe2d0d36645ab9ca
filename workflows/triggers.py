"""Trigger types: one registration per type (what starts an automation run).

Record triggers match committed outbox events (workflows/outbox.py); schedule and
date triggers are started by workflows/scheduler.py; webhook and button triggers
by the API (workflows/api.py → automations.receive_webhook / press_button).
"""
from __future__ import annotations

from typing import Callable

from engine.registry import Registry

#: type -> match(trigger spec, event dict) -> bool   (None: not started by record events)
trigger_types: Registry[Callable | None] = Registry("trigger type")


def _record_trigger(event_type: str, watch_fields: bool = False):
    def match(trigger: dict, event: dict) -> bool:
        payload = event["payload"]
        if event["type"] != event_type or payload.get("form") != trigger.get("form"):
            return False
        fields = trigger.get("fields")
        if watch_fields and fields:
            return any(key in (payload.get("changes") or {}) for key in fields)
        return True
    return match


trigger_types.add("record.created", _record_trigger("record.created"))
trigger_types.add("record.updated", _record_trigger("record.updated", watch_fields=True))
trigger_types.add("record.deleted", _record_trigger("record.deleted"))
trigger_types.add("record.restored", _record_trigger("record.restored"))
trigger_types.add("schedule", None)
trigger_types.add("date", None)
trigger_types.add("webhook", None)
trigger_types.add("button", None)
